"""`mlipcamp label`, `import` and `export`: labelled extxyz in and out of the results database."""

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write
from typer.testing import CliRunner

from mlipcamp.cli import app
from mlipcamp.science.qm import compute_label, get_level

runner = CliRunner()
WATER = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
METHANE = Atoms(
    "CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]]
)


def test_label_writes_ref_keys_equal_to_a_direct_calculation(tmp_path):
    write(tmp_path / "in.xyz", [WATER, METHANE])
    result = runner.invoke(
        app, ["label", str(tmp_path / "in.xyz"), "--method", "gfn2-xtb", "-o", str(tmp_path / "out.xyz")]
    )
    assert result.exit_code == 0, result.output
    labelled = read(tmp_path / "out.xyz", index=":")
    direct = compute_label(METHANE, get_level("gfn2-xtb"))
    assert labelled[1].info["REF_energy"] == pytest.approx(direct.energy_eV, abs=1e-8)
    assert np.allclose(labelled[1].arrays["REF_forces"], direct.forces_eV_ang, atol=1e-8)


def test_label_says_when_nothing_was_written(tmp_path):
    write(tmp_path / "in.xyz", [Atoms("U2", positions=[[0, 0, 0], [0, 0, 2.5]])])  # GFN2-xTB stops at Z = 86
    result = runner.invoke(
        app, ["label", str(tmp_path / "in.xyz"), "--method", "gfn2-xtb", "-o", str(tmp_path / "out.xyz")]
    )
    assert result.exit_code == 1 and "Z >86" in result.output
    assert "0/1 structures labelled with gfn2-xtb nothing written to" in " ".join(result.output.split())
    assert not (tmp_path / "out.xyz").exists()


def test_label_refuses_an_unknown_method_listing_known_ones(tmp_path):
    write(tmp_path / "in.xyz", [WATER])
    result = runner.invoke(
        app, ["label", str(tmp_path / "in.xyz"), "--method", "b3lyp-d9", "-o", str(tmp_path / "o.xyz")]
    )
    assert result.exit_code == 2 and "gfn2-xtb" in result.output and "Traceback" not in result.output


def test_import_then_export_round_trips_and_reimport_adds_nothing(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for i, molecule in enumerate([WATER, METHANE, WATER]):
        frame = molecule.copy()
        frame.positions += 0.01 * i
        frame.info["dft_energy"] = -10.0 - i  # Hartree
        frame.arrays["dft_forces"] = rng.normal(size=(len(frame), 3))  # Hartree/Bohr
        frames.append(frame)
    write(tmp_path / "published.xyz", frames, format="extxyz")
    args = [
        "import",
        str(tmp_path / "published.xyz"),
        "--level",
        "pbe-d3bj/def2-svp",
        "--workdir",
        str(tmp_path / "w"),
        "--energy-key",
        "dft_energy",
        "--forces-key",
        "dft_forces",
        "--energy-unit",
        "Hartree",
        "--length-unit",
        "Bohr",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "3 new labels" in first.output, first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 new labels" in again.output, again.output

    out = tmp_path / "train.xyz"
    exported = runner.invoke(
        app, ["export", "--level", "declared:pbe-d3bj/def2-svp", "-o", str(out), "--workdir", str(tmp_path / "w")]
    )
    assert exported.exit_code == 0, exported.output
    back = sorted(read(out, index=":"), key=lambda a: a.info["REF_energy"])
    hartree, bohr = 27.211386245988, 0.529177210903
    assert [a.info["REF_energy"] for a in back] == pytest.approx([e * hartree for e in (-12.0, -11.0, -10.0)])
    assert np.allclose(back[2].arrays["REF_forces"], frames[0].arrays["dft_forces"] * hartree / bohr)
    assert np.allclose(back[2].positions, frames[0].positions * bohr)


def test_export_of_a_missing_level_says_so(tmp_path):
    result = runner.invoke(
        app, ["export", "--level", "gfn2-xtb", "-o", str(tmp_path / "x.xyz"), "--workdir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "no results database" in result.output


def test_label_with_dft_and_refusal_of_periodic_cells(tmp_path):
    write(tmp_path / "water.xyz", [WATER])
    out = tmp_path / "water-dft.xyz"
    result = runner.invoke(app, ["label", str(tmp_path / "water.xyz"), "--method", "pbe-d3bj/def2-svp", "-o", str(out)])
    assert result.exit_code == 0, result.output
    direct = compute_label(WATER, get_level("pbe-d3bj/def2-svp"))
    assert read(out).info["REF_energy"] == pytest.approx(direct.energy_eV, abs=1e-6)

    box = WATER.copy()
    box.cell, box.pbc = [8.0, 8.0, 8.0], True
    write(tmp_path / "box.xyz", [box], format="extxyz")
    refused = runner.invoke(app, ["label", str(tmp_path / "box.xyz"), "--method", "pbe-d3bj/def2-svp", "-o", str(out)])
    assert refused.exit_code == 2 and "cannot label periodic cells" in refused.output
