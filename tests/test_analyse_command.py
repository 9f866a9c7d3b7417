"""`mlipcamp analyse` and ``analyse_trajectory`` on synthetic trajectories with a known answer: rigid
diatomics whose centres do Gaussian random walks (MSD = 6Dt exactly) in a cubic box whose volume
fluctuates at random, atoms wrapped into the box every frame."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from typer.testing import CliRunner

from mlipcamp.cli import app
from mlipcamp.science.analysis.trajectory import ROW_COLUMNS, analyse_trajectory
from mlipcamp.science.md.files import AMU_PER_ANG3_TO_G_PER_CM3

runner = CliRunner()

DT_FS = 10.0
EDGE_ANG = 20.0  # mean box edge; 4×4×4 lattice of molecules 5 Å apart in the first frame
VOLUME_JITTER = 0.01  # volume uniform in V0·[0.99, 1.01], independently every frame
BOND_ANG = 1.1
D_N2_CM2_S = 2.0e-5  # 0.2 Å²/ps
D_CO_CM2_S = 6.0e-5  # 0.6 Å²/ps


def diatomic_trajectory(
    species: list[tuple[str, float]], n_frames: int, seed: int = 0, density_drift: float = 0.0
) -> tuple[list[Atoms], float]:
    """Frames of 64 rigid diatomics (``species``: (formula, D cm²/s) per molecule, cycled over the lattice)
    and the expected density E[M/V] (g/cm³). Centres walk with per-axis step variance 2·D·Δt in absolute
    coordinates, orientations are random every frame, atoms are wrapped into each frame's box.
    ``density_drift``: the mean volume shrinks linearly by this fraction over the run (a density that
    never equilibrates)."""
    rng = np.random.default_rng(seed)
    grid = (np.arange(4) + 0.5) * EDGE_ANG / 4
    start = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    n_mol = len(start)
    formulas = [species[i % len(species)][0] for i in range(n_mol)]
    d_ang2_ps = np.array([species[i % len(species)][1] for i in range(n_mol)]) * 1e4
    steps = rng.normal(size=(n_frames, n_mol, 3)) * np.sqrt(2 * d_ang2_ps * DT_FS / 1000)[None, :, None]
    steps[0] = 0.0
    centres = start + np.cumsum(steps, axis=0)
    mean_volume = EDGE_ANG**3 * (1 - density_drift * np.linspace(0, 1, n_frames))
    volumes = mean_volume * rng.uniform(1 - VOLUME_JITTER, 1 + VOLUME_JITTER, n_frames)
    symbols = "".join(formulas)
    masses = Atoms(symbols).get_masses().reshape(n_mol, 2)
    frames = []
    for centre, volume in zip(centres, volumes, strict=True):
        axis = rng.normal(size=(n_mol, 3))
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        # the centre of mass stays at ``centre``: atom a at centre ∓ (m_other / M) · bond
        first = centre - (masses[:, 1] / masses.sum(axis=1))[:, None] * BOND_ANG * axis
        second = centre + (masses[:, 0] / masses.sum(axis=1))[:, None] * BOND_ANG * axis
        positions = np.stack([first, second], axis=1).reshape(-1, 3)
        frame = Atoms(symbols, positions=positions, cell=[np.cbrt(volume)] * 3, pbc=True)
        frame.wrap()
        frames.append(frame)
    total_mass = masses.sum()
    if density_drift:
        expected = float(np.mean(total_mass / volumes)) * AMU_PER_ANG3_TO_G_PER_CM3
    else:  # E[1/V] for V uniform on V0·[1-a, 1+a]
        a = VOLUME_JITTER
        expected = total_mass * np.log((1 + a) / (1 - a)) / (2 * a * EDGE_ANG**3) * AMU_PER_ANG3_TO_G_PER_CM3
    return frames, float(expected)


def _csv_rows(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def _assert_d_recovered(value: float, sem: float, true: float) -> None:
    assert 0.005 * true < sem < 0.2 * true, (value, sem, true)  # an error bar of a sensible size
    assert abs(value - true) < 3 * sem, (value, sem, true)


@pytest.fixture(scope="module")
def pure(tmp_path_factory) -> tuple:
    frames, expected_density = diatomic_trajectory([("N2", D_N2_CM2_S)], n_frames=640)
    path = tmp_path_factory.mktemp("pure") / "n2.extxyz"
    write(path, frames, format="extxyz")
    return path, frames, expected_density


def test_analyse_trajectory_recovers_known_density_and_diffusion(pure):
    _, frames, expected_density = pure
    result = analyse_trajectory(frames, DT_FS, temperature_K=300.0)
    density = result.density
    exact = np.mean([sum(f.get_masses()) / f.get_volume() for f in frames][density.equilibration_index :])
    assert density.mean == pytest.approx(exact * AMU_PER_ANG3_TO_G_PER_CM3, rel=1e-12)
    assert abs(density.mean - expected_density) < 3 * density.sem
    assert 0 < density.sem < 1e-3 * expected_density  # ±1 % jitter over hundreds of frames
    assert density.converged and result.converged and not result.warnings
    _assert_d_recovered(result.diffusion.d_cm2_s, result.diffusion.sem_cm2_s, D_N2_CM2_S)
    assert not result.diffusion.is_fallback
    assert 0.9 < result.diffusion.loglog_slope < 1.1
    assert result.species_diffusion == {}  # one species: no per-species rows
    assert [(r["observable"], r["species"]) for r in result.rows] == [("density", ""), ("diffusion", "")]
    lags_ps, msd = result.msd
    assert lags_ps[1] == pytest.approx(DT_FS / 1000)
    assert msd[100] == pytest.approx(6 * D_N2_CM2_S * 1e4 * lags_ps[100], rel=0.15)


def test_analyse_command_csv_has_the_columns_and_the_known_answer(pure, tmp_path):
    path, _, expected_density = pure
    result = runner.invoke(
        app,
        ["analyse", str(path), "--temperature", "300K", "--frame-interval", "10fs", "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    columns, rows = _csv_rows(result.stdout)
    assert columns == ["observable", "species", "value", "sem", "unit", "converged"] == list(ROW_COLUMNS)
    assert [(r["observable"], r["species"], r["unit"], r["converged"]) for r in rows] == [
        ("density", "", "g/cm^3", "True"),
        ("diffusion", "", "cm^2/s", "True"),
    ]
    density, diffusion = rows
    assert abs(float(density["value"]) - expected_density) < 3 * float(density["sem"])
    _assert_d_recovered(float(diffusion["value"]), float(diffusion["sem"]), D_N2_CM2_S)
    assert result.stderr == ""


def test_analyse_command_with_viscosity_adds_the_yeh_hummer_rows_and_plots(pure, tmp_path):
    path, frames, _ = pure
    args = ["analyse", str(path), "--temperature", "313 K", "--frame-interval", "0.01 ps", "--viscosity", "1.9mPa*s"]
    csv_result = runner.invoke(app, [*args, "--format", "csv"])
    assert csv_result.exit_code == 0, csv_result.output
    _, rows = _csv_rows(csv_result.stdout)
    by_name = {r["observable"]: r for r in rows}
    assert list(by_name) == ["density", "diffusion", "diffusion_yh"]
    edge = np.cbrt(np.mean([f.get_volume() for f in frames[-64:]]))  # about 20 Å, whichever frames are used
    kT = 1.380649e-23 * 313
    expected_delta = 2.837297 * kT / (6 * np.pi * 1.9e-3 * edge * 1e-10) * 1e4  # cm²/s
    delta = float(by_name["diffusion_yh"]["value"]) - float(by_name["diffusion"]["value"])
    assert delta == pytest.approx(expected_delta, rel=2e-3)
    assert by_name["diffusion_yh"]["sem"] == by_name["diffusion"]["sem"]

    table_result = runner.invoke(app, [*args, "--plots", str(tmp_path / "plots")])
    assert table_result.exit_code == 0, table_result.output
    for word in ("density", "diffusion_yh", "cm^2/s", "fit"):
        assert word in table_result.stdout
    for name in ("density.png", "msd.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 10_000


def test_analyse_reads_ase_traj_files_too(pure, tmp_path):
    _, frames, _ = pure
    write(tmp_path / "n2.traj", frames[:64])
    result = runner.invoke(
        app, ["analyse", str(tmp_path / "n2.traj"), "--temperature", "300K", "--frame-interval", "10fs", "-f", "csv"]
    )
    assert result.exit_code == 0, result.output
    _, rows = _csv_rows(result.stdout)
    direct = analyse_trajectory(frames[:64], DT_FS, 300.0)
    assert float(rows[1]["value"]) == pytest.approx(direct.diffusion.d_cm2_s, rel=1e-12)


def test_mixture_recovers_a_diffusion_coefficient_per_species(tmp_path):
    frames, _ = diatomic_trajectory([("N2", D_N2_CM2_S), ("CO", D_CO_CM2_S)], n_frames=640, seed=1)
    result = analyse_trajectory(frames, DT_FS, 300.0)
    assert set(result.species_diffusion) == {"CO", "N2"}
    for formula, true in (("N2", D_N2_CM2_S), ("CO", D_CO_CM2_S)):
        d = result.species_diffusion[formula]
        _assert_d_recovered(d.d_cm2_s, d.sem_cm2_s, true)
    _assert_d_recovered(result.diffusion.d_cm2_s, result.diffusion.sem_cm2_s, (D_N2_CM2_S + D_CO_CM2_S) / 2)

    write(tmp_path / "mix.extxyz", frames, format="extxyz")
    cli = runner.invoke(
        app, ["analyse", str(tmp_path / "mix.extxyz"), "--temperature", "300K", "--frame-interval", "10fs", "-f", "csv"]
    )
    assert cli.exit_code == 0, cli.output
    _, rows = _csv_rows(cli.stdout)
    assert [(r["observable"], r["species"]) for r in rows] == [
        ("density", ""),
        ("diffusion", ""),
        ("diffusion", "CO"),
        ("diffusion", "N2"),
    ]
    assert float(rows[2]["value"]) == pytest.approx(result.species_diffusion["CO"].d_cm2_s, rel=1e-9)


def test_a_diffusion_coefficient_from_an_unconverged_density_is_flagged(tmp_path):
    frames, _ = diatomic_trajectory([("N2", D_N2_CM2_S)], n_frames=128, density_drift=0.3)
    write(tmp_path / "drift.extxyz", frames, format="extxyz")
    result = runner.invoke(
        app,
        ["analyse", str(tmp_path / "drift.extxyz"), "--temperature", "300K", "--frame-interval", "10fs", "-f", "csv"],
    )
    assert result.exit_code == 0, result.output
    _, rows = _csv_rows(result.stdout)
    assert [(r["observable"], r["converged"]) for r in rows] == [("density", "False"), ("diffusion", "False")]
    assert "warning" in result.stderr and "did not converge" in result.stderr


def _bad_frames(tmp_path, case: str):
    frames, _ = diatomic_trajectory([("N2", D_N2_CM2_S)], n_frames=64)
    if case == "no cell":
        frames = [Atoms(f.symbols, positions=f.positions) for f in frames]
    elif case == "not periodic":
        for f in frames:
            f.pbc = [True, True, False]
    elif case == "one frame":
        frames = frames[:1]
    elif case == "too few frames":
        frames = frames[:40]
    path = tmp_path / "bad.extxyz"
    write(path, frames, format="extxyz")
    return path


GOOD = ["--temperature", "300K", "--frame-interval", "10fs"]


@pytest.mark.parametrize(
    ("case", "args", "expected"),
    [
        ("missing file", ["analyse", "{dir}/nowhere.extxyz", *GOOD], "no such file"),
        ("unknown format", ["analyse", "{dir}/data.unknownformat", *GOOD], "unknown file format"),
        ("garbage", ["analyse", "{dir}/garbage.xyz", *GOOD], "cannot read"),
        ("no cell", ["analyse", "{dir}/bad.extxyz", *GOOD], "has no cell"),
        ("not periodic", ["analyse", "{dir}/bad.extxyz", *GOOD], "not periodic"),
        ("one frame", ["analyse", "{dir}/bad.extxyz", *GOOD], "one frame"),
        ("too few frames", ["analyse", "{dir}/bad.extxyz", *GOOD], "too few for 4 blocks"),
        ("blocks", ["analyse", "{dir}/good.extxyz", *GOOD, "--blocks", "5"], "too few for 5 blocks"),
        ("one block", ["analyse", "{dir}/good.extxyz", *GOOD, "--blocks", "1"], "--blocks must be at least 2"),
        ("no unit", ["analyse", "{dir}/good.extxyz", "--temperature", "313", "--frame-interval", "10fs"], "unit"),
        (
            "bad unit",
            ["analyse", "{dir}/good.extxyz", "--temperature", "313K", "--frame-interval", "10 parsec"],
            "not convertible",
        ),
        (
            "unknown unit",
            ["analyse", "{dir}/good.extxyz", "--temperature", "313 kelvinz", "--frame-interval", "10fs"],
            "unknown unit",
        ),
        (
            "negative",
            ["analyse", "{dir}/good.extxyz", "--temperature", "-5K", "--frame-interval", "10fs"],
            "must be positive",
        ),
        (
            "zero",
            ["analyse", "{dir}/good.extxyz", "--temperature", "300K", "--frame-interval", "0 fs"],
            "must be positive",
        ),
        (
            "viscosity",
            ["analyse", "{dir}/good.extxyz", *GOOD, "--viscosity", "-1.9 mPa*s"],
            "--viscosity must be positive",
        ),
        ("not a viscosity", ["analyse", "{dir}/good.extxyz", *GOOD, "--viscosity", "1.9 mPa"], "--viscosity"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, case, args, expected, monkeypatch):
    import mlipcamp.science.analysis.trajectory as trajectory

    computed = []
    monkeypatch.setattr(trajectory, "analyse_trajectory", lambda *a, **k: computed.append(a))
    (tmp_path / "data.unknownformat").write_text("hello\n")
    (tmp_path / "garbage.xyz").write_text("3\nnot a comment line that parses\nX 1 2\n")
    if case in ("no cell", "not periodic", "one frame", "too few frames"):
        _bad_frames(tmp_path, case)
    write(tmp_path / "good.extxyz", diatomic_trajectory([("N2", D_N2_CM2_S)], n_frames=64)[0], format="extxyz")
    result = runner.invoke(app, [a.replace("{dir}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # a clean exit
    assert result.stdout == "" and computed == []


def test_too_few_frames_and_bad_values_are_refused_by_the_science_function_too():
    frames, _ = diatomic_trajectory([("N2", D_N2_CM2_S)], n_frames=64)
    with pytest.raises(ValueError, match="too few"):
        analyse_trajectory(frames[:63], DT_FS, 300.0)
    with pytest.raises(ValueError, match="frame interval must be positive"):
        analyse_trajectory(frames, -1.0, 300.0)
