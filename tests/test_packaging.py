"""The distribution installs one import package, mlipcamp, with every subpackage and its data, and
the extras that messages and docs name exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_for_installation():
    setuptools = PYPROJECT["tool"]["setuptools"]
    folders = set()
    for package, folder in setuptools["package-dir"].items():
        for module in (REPO / folder).rglob("*.py"):  # namespace folders too (the Alembic migrations)
            parts = module.parent.relative_to(REPO / folder).parts
            if package == "mlipcamp" and parts and parts[0] in ("flows", "tasks", "db"):
                continue
            folders.add(".".join((package, *parts)))
    assert folders == set(setuptools["packages"])


def test_extras_named_in_messages_and_docs_exist():
    texts = [
        p.read_text()
        for pattern in (
            "mlipcamp/**/*.py",
            "flows/*.py",
            "tasks/*.py",
            "db/*.py",
            "docs/*.md",
            "README.md",
            "docker/Dockerfile",
            "Makefile",
        )
        for p in REPO.glob(pattern)
    ]
    named = {
        extra
        for text in texts
        for group in re.findall(r"mlipcamp\[([a-z0-9,]+)\]|'\.\[([a-z0-9,]+)\]'", text)
        for extras in group
        if extras
        for extra in extras.split(",")
    }
    assert {"dft", "cueq", "postgres"} <= named
    assert named <= set(PYPROJECT["project"]["optional-dependencies"])


@pytest.mark.slow
def test_pip_install_adds_one_top_level_package_that_works_from_anywhere(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(REPO)],
        check=True,
        cwd=tmp_path,
    )
    assert {p.name for p in target.iterdir()} - {"bin"} == {"mlipcamp", "mlipcamp-0.1.0.dist-info"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"PYTHONPATH": str(target)}
    code = (
        "import mlipcamp, mlipcamp.cli, mlipcamp.flows.campaign_flow; from mlipcamp.db.engine import init_db; "
        "init_db('sqlite:///x.sqlite'); print(mlipcamp.__file__)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == str(target / "mlipcamp" / "__init__.py")  # the installed copy, migrations included
    command = subprocess.run(
        [str(target / "bin" / "mlipcamp"), "--help"], cwd=elsewhere, env=env, capture_output=True, text=True, check=True
    )
    assert "Run or resume a campaign" in command.stdout
