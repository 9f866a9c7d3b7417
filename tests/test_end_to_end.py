"""A reduced demo through the real stack: CLI → Prefect (temporary API) → Dask LocalCluster → SQLite."""

import csv
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ase.io import read
from sqlalchemy import func, select

from mlipcamp.db.engine import session_scope, sqlite_url
from mlipcamp.db.models import Base, LiquidBox, Model

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"
MLIPCAMP = [sys.executable, "-c", "from mlipcamp.cli import main; main()"]


def small_md(**changes) -> dict:
    """The ``md`` settings of the tests' small campaigns: 40 NPT steps of 6 molecules from the packed
    box, every step logged. Models trained for 2 epochs do break C–H bonds, so the connectivity watch
    is off (the watch itself is tested in tests/test_md.py)."""
    md = {
        "n_molecules": 6,
        "thermalization_steps": 0,
        "n_steps": 40,
        "log_interval": 1,
        "trajectory_interval": 1,
        "stability": {"check_connectivity": False},
    }
    return md | changes


def labelled_file(tmp_path: Path, name: str, seed: int) -> Path:
    """GFN2-xTB-labelled EC clusters written by `mlipcamp label`, to be imported as a user's dataset."""
    import numpy as np
    from ase.io import write
    from typer.testing import CliRunner

    from mlipcamp.cli import app
    from mlipcamp.science.structures import build_box, cut_clusters

    clusters = cut_clusters(build_box([("C1COC(=O)O1", 6)], 1.32, seed=seed), (1, 2), 12, np.random.default_rng(seed))
    write(tmp_path / f"{name}.xyz", clusters, format="extxyz")
    # in this process: the command's own tests are in test_cli_data.py; a subprocess would add 12 s of imports
    labelled = CliRunner().invoke(
        app,
        ["label", str(tmp_path / f"{name}.xyz"), "--method", "gfn2-xtb", "-o", str(tmp_path / f"{name}-labelled.xyz")],
    )
    assert labelled.exit_code == 0, labelled.output
    return tmp_path / f"{name}-labelled.xyz"


def reduced_demo(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    data["name"] = "e2e"
    data["datasets"] = [
        {"name": "mine", "path": str(labelled_file(tmp_path, "mine", 3)), "level_of_theory": "gfn2-xtb"},
        {
            "name": "theirs",
            "path": str(labelled_file(tmp_path, "theirs", 4)),
            "level_of_theory": "gfn2-xtb",
            "use": "test",
        },
    ]
    data["sampling"].update(
        n_molecules=4, n_steps=4, snapshot_interval=2, clusters_per_snapshot=10, cluster_size=[1, 2]
    )
    data.setdefault("execution", {})["labelling"] = {"batch_size": 8}
    data["training"].update(
        data_kinds=["cluster"],  # the imported and sampled clusters; periodic training: test_imported_campaign
        valid_fraction=0.15,
        test_fraction=0.15,
        dataset_sizes=[3, 5],
        subset_replicas=[1],
        selection="fps",
        fine_tuning={"dataset_sizes": [3], "max_num_epochs": 2, "lr": 0.002},
        hyperparameter_scan={"grid": {"num_channels": [4, 8]}, "dataset_size": 5},
    )
    data["training"]["mace"].update(max_num_epochs=2, num_channels=8, batch_size=4)
    data["md"].update(small_md(thermalization_steps=5))  # the demo's start-up protocol, through the whole stack
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    data["sensitivity"] = {"n_bootstrap": 20}  # the statistics are tested in test_sensitivity.py
    path = tmp_path / "e2e.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def mlipcamp(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*MLIPCAMP, *args], capture_output=True, text=True, env=env, timeout=900)


def query(*args: str) -> subprocess.CompletedProcess:
    """A command that only reads (plan, status, results, models, sensitivity) run in this process,
    as `mlipcamp` would print it: a new interpreter costs 3–5 s of imports per command."""
    import traceback

    from typer.testing import CliRunner

    from mlipcamp.cli import app

    done = CliRunner().invoke(app, list(args))
    error = "".join(traceback.format_exception(done.exception)) if done.exit_code and done.exception else ""
    return subprocess.CompletedProcess(args, done.exit_code, done.stdout, done.stderr + error)


def row_counts(url: str) -> dict[str, int]:
    with session_scope(url) as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


@pytest.mark.slow
def test_reduced_demo_runs_and_resumes_without_recomputing(tmp_path):
    config, workdir = reduced_demo(tmp_path), tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")

    first = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "report" in first.stdout and (workdir / "report.md").exists()
    url = sqlite_url(workdir / "mlipcamp.sqlite")
    counts = row_counts(url)
    # 2 levels (gfn2-xtb computed, declared:gfn2-xtb imported) x (2 sizes x 2 seeds + 1 base + 2 fine-tuned)
    # + 2 scan settings; every model but the scan ones gets an MD run
    assert counts["model"] == 2 * (4 + 1 + 2) + 2 and counts["md_run"] == 2 * 7 and counts["observable"] >= 2 * 14
    assert counts["level_of_theory"] == 2
    assert len(list((workdir / "plots").glob("*.png"))) >= 14 * 4 + 16 * 2 + 2  # per run 4, per model 2, comparison 2
    with session_scope(url) as session:
        models = {model.name: model for model in session.scalars(select(Model))}
        for model in models.values():
            parts = model.metrics["test"]["force_decomposition"]
            assert set(parts) == {"translational", "rotational", "vibrational"}
            assert all(math.isfinite(p["rmse_mev_per_ang"]) and p["rmse_mev_per_ang"] > 0 for p in parts.values())
            external = model.metrics["external"]["theirs"]
            assert external["level_of_theory"] == "declared:gfn2-xtb" and external["n_in_training"] == 0
            assert external["n_structures"] >= 5 and math.isfinite(external["rmse_f_mev_per_ang"])
            assert model.epochs == model.hyperparameters["max_num_epochs"] == 2 and model.seconds_per_epoch > 0
            assert model.peak_memory_mb > 100
        for level in ("gfn2-xtb", "declared:gfn2-xtb"):
            base = models[f"{level}-cluster-base"]
            for seed in (1, 2):
                tuned = models[f"{level}-cluster-finetune-n3-r1-seed{seed}"]
                assert tuned.purpose == "finetune" and tuned.base_model_id == base.id
                assert tuned.base_model_sha256 == base.file_sha256
                assert tuned.dataset.size == 3 and tuned.dataset.selection == "fps"
        scan = [m for m in models.values() if m.purpose == "scan"]
        assert sorted(m.hyperparameters["num_channels"] for m in scan) == [4, 8]
        assert {m.dataset.size for m in scan} == {5}
        boxes = list(session.scalars(select(LiquidBox)))
        assert {box.purpose: box.density_g_cm3 for box in boxes} == {"sampling": 1.0, "md": 1.15}  # md_density
        for box in boxes:
            atoms = read(workdir / "store" / box.structure.file)
            density = atoms.get_masses().sum() / atoms.get_volume() * 1.66053907  # amu/Å³ → g/cm³
            assert len(boxes) == 2 and density == pytest.approx(box.density_g_cm3, rel=1e-3)

    results = query("results", str(config), "--workdir", str(workdir), "--format", "csv")
    assert results.returncode == 0, results.stderr
    rows = list(csv.DictReader(io.StringIO(results.stdout)))
    factors = [
        (r["level_of_theory"], r["purpose"], r["dataset_size"] if r["purpose"] != "base" else "all", int(r["seed"]))
        for r in rows
    ]
    assert factors == [
        (level, purpose, size, seed)
        for level in ("declared:gfn2-xtb", "gfn2-xtb")
        for purpose, size, seed in [
            ("base", "all", 1),
            ("finetune", "3", 1),
            ("finetune", "3", 2),
            ("grid", "3", 1),
            ("grid", "3", 2),
            ("grid", "5", 1),
            ("grid", "5", 2),
        ]
    ]
    for row in rows:
        assert row["data_kind"] == "cluster" and row["subset_replica"] in {"0", "1"}
        assert 0.3 < float(row["density_g_cm3"]) < 3.0 and float(row["density_sem_g_cm3"]) >= 0
        assert math.isfinite(float(row["diffusion_cm2_s"])) and math.isfinite(float(row["rmse_f_test_mev_per_ang"]))

    listed = query("models", str(config), "--workdir", str(workdir), "--format", "csv")
    assert listed.returncode == 0, listed.stderr
    model_table = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert len(model_table) == 16 and {r["status"] for r in model_table} == {"ok"}
    report = (workdir / "report.md").read_text()
    for section in (
        "## Models",
        "## Learning curve",
        "## Hyperparameter scan",
        "## Imported test sets",
        "## Sensitivity",
    ):
        assert section in report
    assert "share of each observable's variance" in first.stdout  # the table printed at the end of the run
    sensitivity = query("sensitivity", str(config), "--workdir", str(workdir), "--format", "csv")
    assert sensitivity.returncode == 0, sensitivity.stderr
    components = list(csv.DictReader(io.StringIO(sensitivity.stdout)))
    rmse = [c for c in components if c["observable"] == "rmse_f_test_mev_per_ang"]
    # 14 models: the two levels, three sizes (3, 5, all), grid vs fine-tuned vs base, subsets, seeds
    assert {c["factor"] for c in rmse} >= {"level_of_theory", "dataset_size", "seed", "residual"}
    assert {int(c["n_models"]) + int(c["n_excluded"]) for c in components} == {14}
    assert sum(float(c["share"]) for c in rmse) == pytest.approx(1.0)
    assert all("20 parametric-bootstrap refits" in c["method"] for c in rmse)  # sensitivity.n_bootstrap
    assert (workdir / "sensitivity.csv").exists() and (workdir / "plots" / "EC_sensitivity.png").exists()
    assert (workdir / "plots" / "learning-curve.png").exists()

    status = query("status", str(config), "--workdir", str(workdir))
    assert status.returncode == 0 and "failed" in status.stdout

    second = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert row_counts(url) == counts
    again = query("results", str(config), "--workdir", str(workdir), "--format", "csv")
    assert again.stdout == results.stdout


def test_bad_campaign_file_stops_before_compute_with_one_message(tmp_path):
    config = tmp_path / "bad.yaml"
    data = yaml.safe_load(DEMO.read_text())
    data["training"]["seeds"] = "one"
    config.write_text(yaml.safe_dump(data))
    result = mlipcamp("run", str(config), "--workdir", str(tmp_path / "work"), env=dict(os.environ))
    assert result.returncode == 2
    assert "training.seeds" in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+psycopg://mlip:secret@db/mlipcamp", "give it in PGPASSWORD or ~/.pgpass"),
        ("not a url", "is not a SQLAlchemy URL"),
        ("oracle9://db/x", "no SQLAlchemy dialect 'oracle9'"),
        ("postgresql+pg8000://mlip@db/mlipcamp", "driver is not installed"),
    ],
)
def test_bad_database_url_is_one_line_before_anything_starts(tmp_path, url, says):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(yaml.safe_load(DEMO.read_text()) | {"database_url": url}))
    result = mlipcamp("run", str(config), "--workdir", str(tmp_path / "work"), env=dict(os.environ))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "database_url: " in lines[0] and says in lines[0], result.stderr
    assert "secret" not in result.stderr and not (tmp_path / "work").exists()


def test_read_only_workdir_is_one_line(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    if subprocess.run(["mount", "--bind", str(workdir), str(workdir)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(workdir)], check=True)
        result = mlipcamp("run", str(DEMO), "--workdir", str(workdir), env=dict(os.environ))
    finally:
        subprocess.run(["umount", "-l", str(workdir)], check=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: work directory {workdir} cannot be written: Read-only file system"


def test_status_before_any_run_says_what_to_do(tmp_path):
    result = mlipcamp("status", str(DEMO), "--workdir", str(tmp_path / "none"), env=dict(os.environ))
    assert result.returncode == 2 and "run `mlipcamp run" in result.stderr
