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
from sqlalchemy import func, select

from db.engine import session_scope, sqlite_url
from db.models import Base, Model

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"
MLIPCAMP = [sys.executable, "-c", "from flows.cli import main; main()"]


def labelled_file(tmp_path: Path) -> Path:
    """GFN2-xTB-labelled EC clusters written by `mlipcamp label`, to be imported as a user's dataset."""
    import numpy as np
    from ase.io import write

    from tasks.structures import build_box, cut_clusters

    clusters = cut_clusters(build_box([("C1COC(=O)O1", 6)], 1.32, seed=3), (1, 2), 12, np.random.default_rng(3))
    write(tmp_path / "mine.xyz", clusters, format="extxyz")
    labelled = mlipcamp("label", str(tmp_path / "mine.xyz"), "--method", "gfn2-xtb", "-o", str(tmp_path / "mine-labelled.xyz"),
                        env=dict(os.environ))
    assert labelled.returncode == 0, labelled.stderr
    return tmp_path / "mine-labelled.xyz"


def reduced_demo(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    data["name"] = "e2e"
    data["datasets"] = [{"name": "mine", "path": str(labelled_file(tmp_path)), "level_of_theory": "gfn2-xtb"}]
    data["sampling"].update(n_molecules=4, n_steps=4, snapshot_interval=2, clusters_per_snapshot=10, cluster_size=[1, 2])
    data["labelling"]["batch_size"] = 8
    data["training"].update(valid_fraction=0.15, test_fraction=0.15, dataset_sizes=[4], subset_replicas=[1])
    data["training"]["mace"].update(max_epochs=2, num_channels=8, batch_size=4)
    data["md"].update(n_molecules=6, n_steps=40, log_interval=1, trajectory_interval=1)
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    path = tmp_path / "e2e.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def mlipcamp(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*MLIPCAMP, *args], capture_output=True, text=True, env=env, timeout=900)


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
    assert counts["model"] == 4 and counts["md_run"] == 4 and counts["observable"] >= 8  # 2 levels x 2 seeds
    assert counts["level_of_theory"] == 2  # gfn2-xtb computed here, declared:gfn2-xtb imported
    assert len(list((workdir / "plots").glob("*.png"))) >= 4 * 4 + 4 * 2 + 1  # per run 4, per model 2, comparison 1
    with session_scope(url) as session:
        for model in session.scalars(select(Model)):
            parts = model.metrics["test"]["force_decomposition"]
            assert set(parts) == {"translational", "rotational", "vibrational"}
            assert all(math.isfinite(p["rmse_mev_per_ang"]) and p["rmse_mev_per_ang"] > 0 for p in parts.values())

    results = mlipcamp("results", str(config), "--workdir", str(workdir), "--format", "csv", env=env)
    assert results.returncode == 0, results.stderr
    rows = list(csv.DictReader(io.StringIO(results.stdout)))
    assert [(r["level_of_theory"], int(r["seed"])) for r in rows] == [
        ("declared:gfn2-xtb", 1), ("declared:gfn2-xtb", 2), ("gfn2-xtb", 1), ("gfn2-xtb", 2)]
    for row in rows:
        assert row["data_kind"] == "cluster" and row["dataset_size"] == "4" and row["subset_replica"] == "1"
        assert 0.3 < float(row["density_g_cm3"]) < 3.0 and float(row["density_sem_g_cm3"]) >= 0
        assert math.isfinite(float(row["diffusion_cm2_s"])) and math.isfinite(float(row["rmse_f_test_mev_per_ang"]))

    status = mlipcamp("status", str(config), "--workdir", str(workdir), env=env)
    assert status.returncode == 0 and "failed" in status.stdout

    second = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert row_counts(url) == counts
    again = mlipcamp("results", str(config), "--workdir", str(workdir), "--format", "csv", env=env)
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


def test_status_before_any_run_says_what_to_do(tmp_path):
    result = mlipcamp("status", str(DEMO), "--workdir", str(tmp_path / "none"), env=dict(os.environ))
    assert result.returncode == 2 and "run `mlipcamp run" in result.stderr
