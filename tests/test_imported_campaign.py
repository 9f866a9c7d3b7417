"""Campaigns on imported data: optional sampling, data kinds from the files, isolated atoms as E0s,
and the checks of a file's contents made when the campaign is read."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import Atoms
from labelled_data import ec_dataset, ec_structures, isolated_atoms, write_labelled

from mlipcamp.science.datasets import DatasetFormatError, read_labelled_extxyz
from mlipcamp.settings.campaign import CampaignError, load_campaign

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return imported_files(tmp_path_factory.mktemp("data"))


def imported_files(root: Path) -> dict[str, Path]:
    """EC clusters with isolated atoms, EC periodic snapshots, and an EC test set, written in ``root``."""
    return {
        "clusters": ec_dataset(root / "clusters.xyz", "cluster", 12, seed=1, with_atoms=True),
        "boxes": ec_dataset(root / "boxes.xyz", "periodic", 6, seed=2),
        "test": ec_dataset(root / "test.xyz", "cluster", 6, seed=3),
    }


def imported_only(tmp_path: Path, files: dict[str, Path], **changes) -> dict:
    """The demo with its sampling and labelling replaced by two imported training sets and a test set,
    and 20 bootstrap refits instead of 200."""
    data = yaml.safe_load(DEMO.read_text())
    del data["sampling"], data["labelling"]
    del data["training"]["data_kinds"]
    data["sensitivity"] = {"n_bootstrap": 20}  # the statistics are tested in test_sensitivity.py
    data["datasets"] = [
        {"name": "clusters", "path": str(files["clusters"]), "level_of_theory": "wb97x-d3/def2-tzvp"},
        {"name": "boxes", "path": str(files["boxes"]), "level_of_theory": "pbe-d3bj/dzvp"},
        {"name": "test", "path": str(files["test"]), "level_of_theory": "wb97x-d3/def2-tzvp", "use": "test"},
    ]
    for section, values in changes.items():
        data[section] = values if not isinstance(data.get(section), dict) else data[section] | values
    return data


def load(tmp_path: Path, data: dict):
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_campaign(path)


def test_imported_only_campaign_trains_on_what_the_files_hold(tmp_path, files):
    campaign = load(tmp_path, imported_only(tmp_path, files))
    assert campaign.sampling is None and campaign.labelling is None and campaign.computed_levels == []
    assert campaign.training_pairs() == [
        ("declared:wb97x-d3/def2-tzvp", "cluster"),
        ("declared:pbe-d3bj/dzvp", "periodic"),
    ]
    assert [(p.level_of_theory, p.data_kind, p.seed) for p in campaign.training_grid()] == [
        ("declared:wb97x-d3/def2-tzvp", "cluster", 1),
        ("declared:wb97x-d3/def2-tzvp", "cluster", 2),
        ("declared:pbe-d3bj/dzvp", "periodic", 1),
        ("declared:pbe-d3bj/dzvp", "periodic", 2),
    ]
    assert campaign.training.test_fraction == 0.0  # a test set is imported: nothing held out unless asked
    kinds = campaign.datasets[0].summary.kinds
    assert kinds["isolated_atom"] == 3 and kinds["molecule"] + kinds["cluster"] == 12


def test_test_fraction_defaults_to_held_out_without_a_test_set_and_can_be_asked_for(tmp_path, files):
    data = imported_only(tmp_path, files)
    data["datasets"] = data["datasets"][:2]
    assert load(tmp_path, data).training.test_fraction == 0.1
    data = imported_only(tmp_path, files)
    data["training"]["test_fraction"] = 0.2
    assert load(tmp_path, data).training.test_fraction == 0.2


def test_data_kinds_filter_and_a_kind_without_data_is_refused(tmp_path, files):
    data = imported_only(tmp_path, files)
    data["training"]["data_kinds"] = ["periodic"]
    assert load(tmp_path, data).training_pairs() == [("declared:pbe-d3bj/dzvp", "periodic")]
    data["datasets"] = [data["datasets"][0]]
    with pytest.raises(CampaignError, match=r"training\.data_kinds: no periodic data"):
        load(tmp_path, data)


def test_data_kind_override_reads_a_boxed_cluster_as_a_cluster(tmp_path):
    clusters = ec_structures("cluster", 4, seed=5)
    for cluster in clusters:  # how some published sets store gas-phase clusters: a large periodic box
        cluster.cell, cluster.pbc = [30.0, 30.0, 30.0], True
        cluster.center()
    path = write_labelled(tmp_path / "boxed.xyz", clusters)
    assert {s.kind for s in read_labelled_extxyz(path)} == {"periodic"}
    assert {s.kind for s in read_labelled_extxyz(path, data_kind="cluster")} <= {"cluster", "molecule"}
    assert all(not s.atoms.pbc.any() for s in read_labelled_extxyz(path, data_kind="cluster"))


def test_a_liquid_snapshot_cannot_be_read_as_a_cluster(tmp_path):
    box = ec_structures("periodic", 1, seed=6)[0]
    box.positions += box.cell.lengths() / 2
    box.wrap()  # molecules cross the boundary, as in any liquid snapshot
    path = write_labelled(tmp_path / "box.xyz", [box])
    with pytest.raises(DatasetFormatError, match="molecules cross the cell boundary"):
        read_labelled_extxyz(path, data_kind="cluster")


def test_campaign_data_kind_override(tmp_path, files):
    data = imported_only(tmp_path, files)
    data["datasets"][0]["data_kind"] = "periodic"  # clusters without a cell cannot be periodic
    with pytest.raises(CampaignError, match=r"datasets\[0\].*no cell to be periodic in"):
        load(tmp_path, data)


def test_labelling_needs_sampling_and_training_needs_data(tmp_path, files):
    data = imported_only(tmp_path, files, labelling={"levels_of_theory": ["gfn2-xtb"]})
    with pytest.raises(CampaignError, match="labelling: nothing to label without sampling"):
        load(tmp_path, data)
    data = imported_only(tmp_path, files)
    data["datasets"] = [data["datasets"][2]]
    with pytest.raises(CampaignError, match="sampling: required unless datasets are imported for training"):
        load(tmp_path, data)


def test_isolated_atoms_are_e0s_never_training_structures(tmp_path, files):
    campaign = load(tmp_path, imported_only(tmp_path, files))
    structures = read_labelled_extxyz(files["clusters"])
    atoms = {int(s.atoms.numbers[0]): s.energy_eV for s in structures if s.kind == "isolated_atom"}
    assert sorted(atoms) == [1, 6, 8]
    assert campaign.e0s("declared:wb97x-d3/def2-tzvp") == atoms  # auto: the file has every element
    assert campaign.e0s("declared:pbe-d3bj/dzvp") is None  # auto: no atoms at that level, least squares


def test_e0s_choices(tmp_path, files):
    data = imported_only(tmp_path, files)
    data["training"]["e0s"] = "least_squares"
    assert load(tmp_path, data).e0s("declared:wb97x-d3/def2-tzvp") is None
    data["training"]["e0s"] = "isolated_atoms"
    with pytest.raises(CampaignError, match=r"training\.e0s: no isolated-atom frames .* at declared:pbe-d3bj/dzvp"):
        load(tmp_path, data)
    data["training"]["e0s"] = {"H": "-13.6 eV", "C": "-1030 eV", "O": "-2040 eV"}
    with pytest.raises(CampaignError, match="given values hold for one level of theory"):
        load(tmp_path, data)
    data["datasets"] = data["datasets"][:1]
    assert load(tmp_path, data).e0s("declared:wb97x-d3/def2-tzvp") == {1: -13.6, 6: -1030.0, 8: -2040.0}
    data["training"]["e0s"] = {"H": "-0.5 hartree", "C": "-37.8 hartree"}
    with pytest.raises(CampaignError, match=r"training\.e0s: no value for O"):
        load(tmp_path, data)
    data["training"]["e0s"] = {"Q": "-1 eV"}
    with pytest.raises(CampaignError, match="element symbols"):
        load(tmp_path, data)


def test_tagged_isolated_atom_with_more_atoms_is_refused(tmp_path):
    pair = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    pair.info["config_type"] = "IsolatedAtom"
    path = write_labelled(tmp_path / "bad.xyz", [*isolated_atoms(), pair])
    with pytest.raises(DatasetFormatError, match=r"frame 3.*IsolatedAtom on a frame of 2 atoms"):
        read_labelled_extxyz(path)


def test_data_that_cannot_describe_a_liquid_is_refused_when_read(tmp_path, files):
    water = [Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]) for _ in range(3)]
    for i, molecule in enumerate(water):
        molecule.positions += np.random.default_rng(i).normal(0, 0.02, (3, 3))
    data = imported_only(tmp_path, files)
    data["datasets"][1]["path"] = str(write_labelled(tmp_path / "water.xyz", water))
    with pytest.raises(CampaignError, match="cluster data at declared:pbe-d3bj/dzvp has no C, which liquid EC holds"):
        load(tmp_path, data)


def test_bad_labels_are_refused_when_the_campaign_is_read(tmp_path, files):
    text = files["test"].read_text().splitlines()
    atom_line = next(i for i, line in enumerate(text) if line.startswith(("C ", "O ", "H ")))
    text[atom_line] = " ".join([*text[atom_line].split()[:-1], "nan"])
    bad = tmp_path / "nan.xyz"
    bad.write_text("\n".join(text) + "\n")
    data = imported_only(tmp_path, files)
    data["datasets"][2]["path"] = str(bad)
    with pytest.raises(CampaignError, match=r"datasets\[2\].*frame 0.*non-finite forces"):
        load(tmp_path, data)
    data["datasets"][2] |= {"path": str(files["test"]), "forces_key": "forces"}
    with pytest.raises(CampaignError, match=r"datasets\[2\].*no forces 'forces'"):
        load(tmp_path, data)


@pytest.mark.slow
def test_imported_only_campaign_runs_end_to_end_as_planned(tmp_path, files):
    """No sampling, no labelling: one cluster and one periodic imported set, E0s from the cluster
    file's isolated atoms, an imported test set; `plan` counts what the run makes."""
    import csv
    import io
    import json
    import os
    import re
    import sqlite3

    from sqlalchemy import select
    from test_end_to_end import mlipcamp, query, row_counts, small_md

    from mlipcamp.db.engine import session_scope, sqlite_url
    from mlipcamp.db.models import LevelOfTheoryRow, Model, SampleSet, Structure

    data = imported_only(tmp_path, files)
    data["training"].update(seeds=[1, 2], valid_fraction=0.2)
    data["training"]["mace"].update(max_num_epochs=2, num_channels=8, batch_size=4)
    data["md"].update(small_md())
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    config, workdir = tmp_path / "imported.yaml", tmp_path / "work"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "prefect-home")
    }

    planned = query("plan", str(config), "--format", "csv")
    assert planned.returncode == 0, planned.stderr
    plan = list(csv.DictReader(io.StringIO(planned.stdout)))
    run = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    url = sqlite_url(workdir / "mlipcamp.sqlite")
    counts = row_counts(url)
    assert counts["model"] == len(plan) == 4 and counts["md_run"] == sum(int(r["md_runs"]) for r in plan) == 4
    assert counts["label"] == counts["structure"] - 1  # one per imported structure; not the MD box
    with session_scope(url) as session:
        assert set(session.scalars(select(Structure.kind))) == {"box", "cluster", "periodic"}  # no isolated atoms
        assert [s.box_structure_id for s in session.scalars(select(SampleSet))] == [None] * 3  # nothing sampled
        assert sorted(session.scalars(select(LevelOfTheoryRow.name))) == [
            "declared:pbe-d3bj/dzvp",
            "declared:wb97x-d3/def2-tzvp",
        ]
        models = {m.name: m for m in session.scalars(select(Model))}
        assert sorted(models) == sorted(r["model"] for r in plan)
        atoms = {str(int(s.atoms.numbers[0])): s.energy_eV for s in read_labelled_extxyz(files["clusters"])[:3]}
        for name, model in models.items():
            assert model.status == "ok", model.error
            assert model.dataset.n_test == 0 and model.rmse_f_test_mev_per_ang is None  # tested on the imported set
            if "cluster" in name:
                assert model.e0s_ev == atoms  # the file's isolated atoms, not a fit
            else:
                assert model.dataset.data_kind == "periodic" and model.e0s_ev != atoms
    listed = query("models", str(config), "--workdir", str(workdir), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert all(float(r["test_set_test_rmse_f_mev_per_ang"]) > 0 for r in table)
    sensitivity = query("sensitivity", str(config), "--workdir", str(workdir), "--format", "csv")
    observables = {c["observable"] for c in csv.DictReader(io.StringIO(sensitivity.stdout))}
    assert "test_set_test_rmse_f_mev_per_ang" in observables

    # In the Prefect UI every task run has a name that says what it did and tags to filter by.
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as prefect_db:
        runs = {name: set(json.loads(tags)) for name, tags in prefect_db.execute("SELECT name, tags FROM task_run")}
        starts = dict(prefect_db.execute("SELECT name, start_time FROM task_run"))
    # every training starts before any MD run (Dask priorities: mlipcamp.flows.campaign_flow)
    assert max(t for name, t in starts.items() if name.startswith("train ")) < min(
        t for name, t in starts.items() if name.startswith("simulate ")
    )
    assert not [name for name in runs if re.fullmatch(r"[a-z_]+-[0-9a-f]{3}", name)]  # Prefect's default names
    assert runs["report demo"] == {"stage:report"} and runs["compare demo"] == {"stage:compare"}
    train = runs["train grid EC declared:pbe-d3bj/dzvp-periodic-seed2"]
    assert train == {
        "stage:train",
        "level:declared:pbe-d3bj/dzvp",
        "data_kind:periodic",
        "subset:all",
        "seed:2",
        "purpose:grid",
    }
    simulate = [tags for name, tags in runs.items() if name.startswith("simulate EC")]
    assert len(simulate) == 4 and all({"stage:simulate", "liquid:EC"} <= tags for tags in simulate)
    assert {tag for tags in simulate for tag in tags if tag.startswith("seed:")} == {"seed:1", "seed:2"}


def test_plan_warns_of_a_size_larger_than_an_imported_file_supplies(tmp_path, files):
    from mlipcamp.plan import pool_warnings

    campaign = load(tmp_path, imported_only(tmp_path, files))
    kinds = campaign.datasets[0].summary.kinds
    frames = kinds["molecule"] + kinds["cluster"]  # single molecules train in the cluster pool
    assert kinds["molecule"] > 0 and frames == 12
    kept = frames * (1 - campaign.training.valid_fraction)  # the test set is imported: none held out
    fits = imported_only(tmp_path, files, training={"dataset_sizes": {"cluster": [int(kept)], "periodic": [None]}})
    assert pool_warnings(load(tmp_path, fits)) == []
    too_many = imported_only(
        tmp_path, files, training={"dataset_sizes": {"cluster": [int(kept) + 1], "periodic": [None]}}
    )
    (line,) = pool_warnings(load(tmp_path, too_many))
    assert line.startswith(f"training.dataset_sizes: {int(kept) + 1} cluster structures at declared:wb97x-d3")
    assert f"at most {frames}, about {int(kept)} of them" in line
