"""NPT molecular dynamics with ASE's isotropic MTK (Nosé–Hoover chain) integrator.

``run_npt`` writes a CSV log of thermodynamic observables and an ``.npz`` trajectory
(positions as the integrator has them — not wrapped into the box — plus cells, masses,
atomic numbers and ``mol_id``) that ``tasks.analysis`` turns into density, diffusion and RDFs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from ase import Atoms, units
from ase.md.nose_hoover_chain import IsotropicMTKNPT
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

LOG_NAME = "md_log.csv"
TRAJ_NAME = "trajectory.npz"
LOG_COLUMNS = (
    "step",
    "time_ps",
    "temperature_K",
    "pressure_bar",
    "volume_ang3",
    "density_g_cm3",
    "epot_eV",
    "etot_eV",
)
AMU_PER_ANG3_TO_G_PER_CM3 = units._amu * 1e3 / 1e-24  # amu/Å³ → g/cm³ (≈ 1.66054)


@dataclass(frozen=True)
class NPTSettings:
    """Isotropic NPT run: temperature (K), pressure (bar), times in fs, intervals in steps."""

    temperature_K: float
    pressure_bar: float
    n_steps: int
    timestep_fs: float = 1.0
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    log_interval: int = 10
    traj_interval: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        positive = {
            "temperature_K": self.temperature_K,
            "n_steps": self.n_steps,
            "timestep_fs": self.timestep_fs,
            "tdamp_fs": self.tdamp_fs,
            "pdamp_fs": self.pdamp_fs,
            "log_interval": self.log_interval,
            "traj_interval": self.traj_interval,
        }
        for name, value in positive.items():
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"NPTSettings.{name} must be positive and finite, got {value!r}")
        for name in ("n_steps", "log_interval", "traj_interval", "seed"):
            if not isinstance(getattr(self, name), (int, np.integer)):
                raise ValueError(f"NPTSettings.{name} must be an integer, got {getattr(self, name)!r}")
        if not np.isfinite(self.pressure_bar):
            raise ValueError(f"NPTSettings.pressure_bar must be finite, got {self.pressure_bar!r}")
        if self.seed < 0:
            raise ValueError(f"NPTSettings.seed must be non-negative, got {self.seed!r}")


@dataclass
class MDRunResult:
    """Outcome of ``run_npt``: steps done, wall time (s), speed, and the files written."""

    n_steps_done: int
    wall_time_s: float
    steps_per_s: float
    ns_per_day: float
    log_path: Path
    traj_path: Path


class _Recorder:
    """Writes log rows (flushed as they come) and collects trajectory frames."""

    def __init__(self, atoms: Atoms, settings: NPTSettings, log_file: IO[str]):
        self.atoms = atoms
        self.settings = settings
        self.log_file = log_file
        self.total_mass = float(atoms.get_masses().sum())
        self.positions: list[np.ndarray] = []
        self.cells: list[np.ndarray] = []
        self.steps: list[int] = []
        log_file.write(",".join(LOG_COLUMNS) + "\n")

    def record(self, step: int) -> None:
        """Log and/or store a frame if ``step`` falls on the respective interval."""
        if step % self.settings.log_interval == 0:
            self._log(step)
        if step % self.settings.traj_interval == 0:
            self.positions.append(self.atoms.get_positions().astype(np.float32))
            self.cells.append(np.array(self.atoms.cell[:], dtype=np.float64))
            self.steps.append(step)

    def _log(self, step: int) -> None:
        atoms = self.atoms
        epot = atoms.get_potential_energy()
        ekin = atoms.get_kinetic_energy()
        stress = atoms.get_stress(voigt=False, include_ideal_gas=True)  # eV/Å³
        volume = atoms.get_volume()
        row = (
            step * self.settings.timestep_fs / 1000.0,
            atoms.get_temperature(),
            -np.trace(stress) / 3.0 / units.bar,
            volume,
            self.total_mass / volume * AMU_PER_ANG3_TO_G_PER_CM3,
            epot,
            epot + ekin,
        )
        if not np.all(np.isfinite(row)):
            raise RuntimeError(f"MD became unstable at step {step}: non-finite observables {row}")
        self.log_file.write(f"{step}," + ",".join(f"{v:.10g}" for v in row) + "\n")
        self.log_file.flush()

    def save(self, path: Path, time_per_step_ps: float) -> None:
        """Write the collected frames to ``path`` (.npz)."""
        steps = np.asarray(self.steps, dtype=np.int64)
        np.savez(
            path,
            positions=np.stack(self.positions),
            cells=np.stack(self.cells),
            steps=steps,
            time_ps=steps * time_per_step_ps,
            masses=self.atoms.get_masses(),
            numbers=self.atoms.numbers.copy(),
            mol_id=np.asarray(self.atoms.arrays["mol_id"]),
        )


def run_npt(
    atoms: Atoms,
    calculator,
    settings: NPTSettings,
    out_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> MDRunResult:
    """Run isotropic NPT MD (MTK barostat + Nosé–Hoover chains) from fresh Maxwell–Boltzmann
    velocities drawn with ``settings.seed``.

    ``atoms`` (periodic, with ``arrays['mol_id']``) is copied, not modified. Writes
    ``out_dir/md_log.csv`` every ``log_interval`` steps and ``out_dir/trajectory.npz`` with a
    frame every ``traj_interval`` steps (step 0 included in both). ``progress(done, total)`` is
    called after every chunk of steps.
    """
    if not atoms.pbc.all():
        raise ValueError("run_npt needs a fully periodic box (atoms.pbc all True)")
    if "mol_id" not in atoms.arrays:
        raise ValueError("run_npt needs atoms.arrays['mol_id'] (molecule index of every atom)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path, traj_path = out_dir / LOG_NAME, out_dir / TRAJ_NAME

    atoms = atoms.copy()
    atoms.calc = calculator
    # The integrator copies the momenta at construction: set them first.
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=settings.temperature_K, rng=np.random.default_rng(settings.seed)
    )
    Stationary(atoms)
    dyn = IsotropicMTKNPT(
        atoms,
        timestep=settings.timestep_fs * units.fs,
        temperature_K=settings.temperature_K,
        pressure_au=settings.pressure_bar * units.bar,
        tdamp=settings.tdamp_fs * units.fs,
        pdamp=settings.pdamp_fs * units.fs,
    )

    with log_path.open("w") as log_file:
        recorder = _Recorder(atoms, settings, log_file)
        start = time.perf_counter()
        recorder.record(0)
        step = 0
        while step < settings.n_steps:
            stop = min(
                _next_multiple(step, settings.log_interval),
                _next_multiple(step, settings.traj_interval),
                settings.n_steps,
            )
            dyn.run(stop - step)
            step = stop
            recorder.record(step)
            if progress is not None:
                progress(step, settings.n_steps)
        wall = time.perf_counter() - start
    recorder.save(traj_path, settings.timestep_fs / 1000.0)

    steps_per_s = step / wall
    return MDRunResult(
        n_steps_done=step,
        wall_time_s=wall,
        steps_per_s=steps_per_s,
        ns_per_day=steps_per_s * settings.timestep_fs * 1e-6 * 86400.0,
        log_path=log_path,
        traj_path=traj_path,
    )


def _next_multiple(step: int, interval: int) -> int:
    return (step // interval + 1) * interval


def read_md_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of an ``md_log.csv`` by name (``step`` as int64, the rest float64)."""
    with Path(path).open() as f:
        names = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    columns = {name: data[:, i] for i, name in enumerate(names)}
    columns["step"] = columns["step"].astype(np.int64)
    return columns


def read_trajectory(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a ``trajectory.npz``: positions (n_frames, n_atoms, 3) Å, cells (n_frames, 3, 3) Å,
    steps, time_ps, masses (amu), numbers, mol_id."""
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}
