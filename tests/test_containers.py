"""docker/: what can be checked without a Docker engine (none runs here): the image holds every
package folder, the campaign files and the deployments; the build context leaves out the virtual
environment; compose starts its services in order, each waiting for the health of what it needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).parents[1]


def test_image_holds_the_packages_campaigns_and_deployments():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) \S+$", dockerfile, flags=re.MULTILINE))
    package_dirs = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values()
    )
    assert package_dirs | {"configs", "deployments"} <= copied
    assert all((REPO / path).exists() for path in copied)
    assert "constraints/cpu.txt" not in dockerfile  # that torch wheel exists on this machine only


def test_build_context_leaves_out_what_is_built_here():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", "runs"} <= set(ignored)


def test_compose_services_start_in_order_of_health():
    services = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        for needed, condition in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            wanted = condition["condition"]
            assert wanted in ("service_healthy", "service_completed_successfully")
            assert wanted != "service_healthy" or "healthcheck" in services[needed], f"{needed} has no healthcheck"
    assert services["worker"]["depends_on"]["prefect"]["condition"] == "service_healthy"
    assert "PGPASSWORD" in services["worker"]["environment"]
