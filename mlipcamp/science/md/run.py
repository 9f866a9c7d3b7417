"""Production molecular dynamics that survives job limits and crashes.

``run_md`` runs NPT (ASE's isotropic MTK barostat + Nosé–Hoover chains) or NVT (Langevin) MD
and writes, in ``out_dir``:

- ``md_log.csv``: the observables of ``LOG_COLUMNS`` every ``log_interval`` steps, appended;
- ``frames.bin``: a frame every ``traj_interval`` steps (step, cell, float32 positions as the
  integrator has them — not wrapped into the box), appended as fixed-size records;
- ``checkpoint.npz``: the full dynamical state every ``checkpoint_interval`` steps, written
  atomically, with the lengths of the two files above at that step. A second call with the
  same arguments truncates them to those lengths and resumes, reproducing the uninterrupted
  run bit for bit (for a deterministic calculator). Its size does not grow with the run.
- ``trajectory.npz``: all frames plus masses, atomic numbers, ``mol_id`` and
  ``production_start_step``, assembled at the end of the call and read by ``mlipcamp.science.analysis``.

At every log step a stability watch (``StabilityLimits``) looks for non-finite values, huge
forces, a density outside a window, a temperature runaway and broken or fused molecules; the
first failure ends the run early with ``stopped_reason`` set instead of raising.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from operator import attrgetter
from pathlib import Path
from typing import IO, Literal

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nose_hoover_chain import IsotropicMTKNPT
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.neighborlist import natural_cutoffs, neighbor_list

LOG_NAME = "md_log.csv"
TRAJ_NAME = "trajectory.npz"
FRAMES_NAME = "frames.bin"
CHECKPOINT_NAME = "checkpoint.npz"
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
BOND_RADIUS_FACTOR = 1.2  # covalent bond of the starting structure: distance < 1.2 × (sum of covalent radii)
BROKEN_RADIUS_FACTOR = 1.6  # such a bond is broken beyond 1.6 × (sum): thermal stretches stay well inside
FUSED_RADIUS_FACTOR = 1.0  # atoms of two molecules closer than the sum of their covalent radii have bonded
# IsotropicMTKNPT variables that ``step`` updates (everything else follows from the settings).
NPT_STATE = (
    "_q",
    "_p",
    "_eps",
    "_p_eps",
    "_cell0",
    "_volume0",
    "_thermostat._eta",
    "_thermostat._p_eta",
    "_barostat._xi",
    "_barostat._p_xi",
)


@dataclass(frozen=True, kw_only=True)
class MDSettings:
    """MD run: temperature (K), pressure (bar, NPT only), times in fs, steps and intervals in steps.

    ``equilibration_steps`` run before the ``n_steps`` production steps with the same integrator
    and are logged too. ``tdamp_fs`` is the NPT thermostat time constant and the inverse Langevin
    friction for NVT.
    """

    ensemble: Literal["npt", "nvt"]
    temperature_K: float
    n_steps: int
    pressure_bar: float | None = None
    equilibration_steps: int = 0
    timestep_fs: float = 1.0
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    log_interval: int = 10
    traj_interval: int = 10
    checkpoint_interval: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ensemble not in ("npt", "nvt"):
            raise ValueError(f"MDSettings.ensemble must be 'npt' or 'nvt', got {self.ensemble!r}")
        positive = (
            "temperature_K", "n_steps", "timestep_fs", "tdamp_fs", "pdamp_fs",
            "log_interval", "traj_interval", "checkpoint_interval",
        )
        for name in positive:
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"MDSettings.{name} must be positive and finite, got {value!r}")
        integers = ("n_steps", "equilibration_steps", "log_interval", "traj_interval", "checkpoint_interval", "seed")
        for name in integers:
            if not isinstance(getattr(self, name), (int, np.integer)):
                raise ValueError(f"MDSettings.{name} must be an integer, got {getattr(self, name)!r}")
        for name in ("equilibration_steps", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"MDSettings.{name} must be non-negative, got {getattr(self, name)!r}")
        if self.ensemble == "npt" and (self.pressure_bar is None or not np.isfinite(self.pressure_bar)):
            raise ValueError(f"MDSettings.pressure_bar must be finite for NPT, got {self.pressure_bar!r}")
        if self.ensemble == "nvt" and self.pressure_bar is not None:
            raise ValueError("MDSettings.pressure_bar applies to NPT only; leave it None for NVT")

    @property
    def total_steps(self) -> int:
        """Equilibration plus production steps."""
        return int(self.equilibration_steps + self.n_steps)


@dataclass(frozen=True)
class StabilityLimits:
    """When a run counts as broken: a force above ``max_force_eV_ang`` (eV/Å), a density outside
    ``density_window_g_cm3`` (g/cm³, NPT only), a temperature above ``max_temperature_factor`` ×
    the target, or (with ``check_connectivity``) a broken or fused molecule."""

    max_force_eV_ang: float = 20.0
    density_window_g_cm3: tuple[float, float] = (0.2, 5.0)
    max_temperature_factor: float = 3.0
    check_connectivity: bool = True

    def __post_init__(self) -> None:
        if not self.max_force_eV_ang > 0:
            raise ValueError(f"StabilityLimits.max_force_eV_ang must be positive, got {self.max_force_eV_ang!r}")
        low, high = self.density_window_g_cm3
        if not 0 <= low < high:
            raise ValueError(f"StabilityLimits.density_window_g_cm3 must be (low, high) with 0 <= low < high, got {self.density_window_g_cm3!r}")
        if not self.max_temperature_factor > 1:
            raise ValueError(f"StabilityLimits.max_temperature_factor must exceed 1, got {self.max_temperature_factor!r}")


@dataclass
class MDRunResult:
    """Outcome of ``run_md``. Steps count from the start of equilibration; wall time (s) and
    speed cover the steps run in this call only (NaN when it ran none)."""

    n_steps_done: int
    production_start_step: int
    wall_time_s: float
    steps_per_s: float
    ns_per_day: float
    resumed_from_step: int
    stopped_reason: str | None
    stopped_step: int | None
    log_path: Path
    traj_path: Path
    checkpoint_path: Path


def run_md(
    atoms: Atoms,
    calculator,
    settings: MDSettings,
    out_dir: Path,
    progress: Callable[[int, int], None] | None = None,
    limits: StabilityLimits = StabilityLimits(),
) -> MDRunResult:
    """Run (or resume) MD of ``atoms`` (periodic, with ``arrays['mol_id']``; copied, not modified).

    A fresh run draws Maxwell–Boltzmann velocities with ``settings.seed``; a run whose
    ``out_dir`` holds a checkpoint continues from it (refusing one written with other settings
    or another starting structure) and a finished one returns at once. ``progress(done, total)``
    is called after every chunk of steps.
    """
    if not atoms.pbc.all():
        raise ValueError("run_md needs a fully periodic box (atoms.pbc all True)")
    if "mol_id" not in atoms.arrays:
        raise ValueError("run_md needs atoms.arrays['mol_id'] (molecule index of every atom)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path, traj_path, checkpoint_path = out_dir / LOG_NAME, out_dir / TRAJ_NAME, out_dir / CHECKPOINT_NAME
    fingerprint = {"settings": _settings_json(settings), "structure": _structure_hash(atoms)}
    checkpoint = _load_checkpoint(checkpoint_path, fingerprint) if checkpoint_path.exists() else None

    md_atoms = atoms.copy()
    md_atoms.calc = calculator
    if checkpoint is None:
        first_step, stopped = 0, None
        # The NPT integrator copies the momenta at construction: set them first.
        MaxwellBoltzmannDistribution(md_atoms, temperature_K=settings.temperature_K, rng=np.random.default_rng(settings.seed))
        Stationary(md_atoms)
    else:
        first_step, stopped = int(checkpoint["step"]), _stopped(checkpoint)
        md_atoms.set_positions(checkpoint["positions"])
        md_atoms.set_momenta(checkpoint["momenta"])
        md_atoms.set_cell(checkpoint["cell"])

    step, wall = first_step, 0.0
    with _Recorder(md_atoms, settings, limits, covalent_bonds(atoms), log_path, out_dir / FRAMES_NAME, checkpoint) as recorder:
        if stopped is None and step < settings.total_steps:
            dyn = _integrator(md_atoms, settings)
            if checkpoint is not None:
                _restore_integrator(dyn, checkpoint)
            start = time.perf_counter()
            step, stopped = _advance(dyn, recorder, checkpoint_path, fingerprint, first_step, progress)
            wall = time.perf_counter() - start
        recorder.save_trajectory(traj_path)

    steps_per_s = (step - first_step) / wall if step > first_step else float("nan")
    return MDRunResult(
        n_steps_done=step,
        production_start_step=settings.equilibration_steps,
        wall_time_s=wall,
        steps_per_s=steps_per_s,
        ns_per_day=steps_per_s * settings.timestep_fs * 1e-6 * 86400.0,
        resumed_from_step=first_step,
        stopped_reason=stopped[0] if stopped else None,
        stopped_step=stopped[1] if stopped else None,
        log_path=log_path,
        traj_path=traj_path,
        checkpoint_path=checkpoint_path,
    )


def _advance(
    dyn: MolecularDynamics,
    recorder: _Recorder,
    checkpoint_path: Path,
    fingerprint: Mapping[str, str],
    step: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, tuple[str, int] | None]:
    """Integrate from ``step`` to the end or the first stability failure, recording and
    checkpointing on the way; the last step reached and the failure (reason, step) if any."""
    settings = recorder.settings
    total = settings.total_steps
    dyn.nsteps = step
    problem = recorder.record(step) if step == 0 else None
    while problem is None and step < total:
        intervals = (settings.log_interval, settings.traj_interval, settings.checkpoint_interval)
        stop = min(total, *((step // n + 1) * n for n in intervals))
        dyn.run(stop - step)
        step = stop
        problem = recorder.record(step)
        if problem is None and step < total and step % settings.checkpoint_interval == 0:
            _save_checkpoint(checkpoint_path, dyn, recorder, fingerprint, step, None)
        if progress is not None:
            progress(step, total)
    stopped = (problem, step) if problem else None
    _save_checkpoint(checkpoint_path, dyn, recorder, fingerprint, step, stopped)
    return step, stopped


def _integrator(atoms: Atoms, settings: MDSettings) -> MolecularDynamics:
    """IsotropicMTKNPT (NPT) or Langevin (NVT, friction 1/tdamp) for ``settings``."""
    timestep = settings.timestep_fs * units.fs
    if settings.ensemble == "npt":
        return IsotropicMTKNPT(
            atoms,
            timestep=timestep,
            temperature_K=settings.temperature_K,
            pressure_au=settings.pressure_bar * units.bar,
            tdamp=settings.tdamp_fs * units.fs,
            pdamp=settings.pdamp_fs * units.fs,
        )
    # A stream independent of the one that drew the initial velocities from the same seed.
    noise_rng = np.random.default_rng(np.random.SeedSequence(settings.seed).spawn(1)[0])
    return Langevin(
        atoms,
        timestep=timestep,
        temperature_K=settings.temperature_K,
        friction=1.0 / (settings.tdamp_fs * units.fs),
        rng=noise_rng,
    )


def _integrator_state(dyn: MolecularDynamics) -> dict[str, np.ndarray]:
    """Internal variables of ``dyn`` that its next steps depend on, as checkpoint arrays."""
    if isinstance(dyn, Langevin):
        return {"rng_state": np.array(json.dumps(dyn.rng.bit_generator.state))}
    return {f"dyn.{name}": np.array(attrgetter(name)(dyn)) for name in NPT_STATE}


def _restore_integrator(dyn: MolecularDynamics, checkpoint: Mapping[str, np.ndarray]) -> None:
    """Put the internal variables of ``_integrator_state`` back into a freshly built ``dyn``."""
    if isinstance(dyn, Langevin):
        dyn.rng.bit_generator.state = json.loads(str(checkpoint["rng_state"]))
        return
    for name in NPT_STATE:
        owner_path, _, attr = name.rpartition(".")
        owner = attrgetter(owner_path)(dyn) if owner_path else dyn
        value = checkpoint[f"dyn.{name}"]
        setattr(owner, attr, value.item() if value.ndim == 0 else value.copy())


class _Recorder:
    """Appends log rows and trajectory frames to their files, and runs the stability watch at
    log steps. A context manager: on entry it starts the files afresh, or truncates them to the
    lengths ``checkpoint`` recorded; on exit it closes them."""

    def __init__(
        self,
        atoms: Atoms,
        settings: MDSettings,
        limits: StabilityLimits,
        reference_bonds: np.ndarray,
        log_path: Path,
        frames_path: Path,
        checkpoint: Mapping[str, np.ndarray] | None,
    ):
        self.atoms = atoms
        self.settings = settings
        self.limits = limits
        self.reference_bonds = reference_bonds
        self.total_mass = float(atoms.get_masses().sum())
        self.log_path, self.frames_path, self.checkpoint = log_path, frames_path, checkpoint
        self.frame_dtype = frame_dtype(len(atoms))

    def __enter__(self) -> _Recorder:
        if self.checkpoint is None:
            _write_atomically(self.log_path, lambda f: f.write((",".join(LOG_COLUMNS) + "\n").encode()))
            _write_atomically(self.frames_path, lambda f: None)
        else:
            _truncate(self.log_path, int(self.checkpoint["log_bytes"]))
            _truncate(self.frames_path, int(self.checkpoint["n_frames"]) * self.frame_dtype.itemsize)
        self.log_file = self.log_path.open("ab")
        self.frames_file = self.frames_path.open("ab")
        return self

    def __exit__(self, *exc_info) -> None:
        self.log_file.close()
        self.frames_file.close()

    def record(self, step: int) -> str | None:
        """Log (and check) and/or append a frame if ``step`` falls on the respective interval;
        the stability problem found, if any."""
        problem = None
        if step % self.settings.log_interval == 0:
            row = self._observables(step)
            self.log_file.write(_log_line(step, row).encode())
            self.log_file.flush()
            problem = self._problem(row)
        if step % self.settings.traj_interval == 0:
            frame = np.zeros((), dtype=self.frame_dtype)
            frame["step"], frame["cell"], frame["positions"] = step, self.atoms.cell[:], self.atoms.get_positions()
            self.frames_file.write(frame.tobytes())
        return problem

    def sync(self) -> dict[str, np.ndarray]:
        """Flush both files to disk; their lengths, as checkpoint arrays."""
        for f in (self.log_file, self.frames_file):
            f.flush()
            os.fsync(f.fileno())
        n_bytes = self.frames_file.tell()
        return {"log_bytes": np.int64(self.log_file.tell()), "n_frames": np.int64(n_bytes // self.frame_dtype.itemsize)}

    def _observables(self, step: int) -> np.ndarray:
        """The LOG_COLUMNS after ``step``: ps, K, bar, Å³, g/cm³, eV, eV."""
        atoms = self.atoms
        epot = atoms.get_potential_energy()
        stress = atoms.get_stress(voigt=False, include_ideal_gas=True)  # eV/Å³
        volume = atoms.get_volume()
        return np.array([
            step * self.settings.timestep_fs / 1000.0,
            atoms.get_temperature(),
            -np.trace(stress) / 3.0 / units.bar,
            volume,
            self.total_mass / volume * AMU_PER_ANG3_TO_G_PER_CM3,
            epot,
            epot + atoms.get_kinetic_energy(),
        ])

    def _problem(self, row: np.ndarray) -> str | None:
        """What is wrong with the current state given its log ``row``, or None."""
        values = dict(zip(LOG_COLUMNS[1:], row))
        forces = self.atoms.get_forces()
        bad = [name for name, value in values.items() if not np.isfinite(value)]
        if not np.isfinite(forces).all():
            bad.append(f"forces on atoms {np.flatnonzero(~np.isfinite(forces).all(axis=1)).tolist()}")
        if bad:
            return f"non-finite values: {', '.join(bad)}"
        limits, force = self.limits, np.linalg.norm(forces, axis=1)
        if force.max() > limits.max_force_eV_ang:
            return f"force {force.max():.3g} eV/Å on atom {force.argmax()} exceeds {limits.max_force_eV_ang:g} eV/Å"
        low, high = limits.density_window_g_cm3
        density = values["density_g_cm3"]
        if self.settings.ensemble == "npt" and not low <= density <= high:
            return f"density {density:.4g} g/cm³ outside [{low:g}, {high:g}] g/cm³"
        temperature, target = values["temperature_K"], self.settings.temperature_K
        if temperature > limits.max_temperature_factor * target:
            return f"temperature runaway: {temperature:.4g} K > {limits.max_temperature_factor:g} × {target:g} K"
        return connectivity_problem(self.atoms, self.reference_bonds) if limits.check_connectivity else None

    def save_trajectory(self, path: Path) -> None:
        """Write all frames so far, with the per-atom arrays, to ``path`` (.npz), atomically."""
        self.frames_file.flush()
        frames = np.fromfile(self.frames_path, dtype=self.frame_dtype)
        arrays = dict(
            positions=frames["positions"],
            cells=frames["cell"],
            steps=frames["step"],
            time_ps=frames["step"] * self.settings.timestep_fs / 1000.0,
            masses=self.atoms.get_masses(),
            numbers=self.atoms.numbers.copy(),
            mol_id=np.asarray(self.atoms.arrays["mol_id"]),
            production_start_step=np.int64(self.settings.equilibration_steps),
        )
        _write_atomically(path, lambda f: np.savez(f, **arrays))


def frame_dtype(n_atoms: int) -> np.dtype:
    """One record of ``frames.bin``: step, cell (Å, float64) and positions (Å, float32)."""
    return np.dtype([("step", "<i8"), ("cell", "<f8", (3, 3)), ("positions", "<f4", (n_atoms, 3))])


def _truncate(path: Path, length: int) -> None:
    """Cut ``path`` back to ``length`` bytes (what a checkpoint recorded); ValueError if it is shorter."""
    size = path.stat().st_size if path.exists() else -1
    if size < length:
        raise ValueError(f"{path} holds {max(size, 0)} bytes, fewer than the {length} its checkpoint recorded; "
                         "delete the directory to start the run afresh")
    os.truncate(path, length)


def _log_line(step: int, row: np.ndarray) -> str:
    return f"{step}," + ",".join(f"{v:.10g}" for v in row) + "\n"


def covalent_bonds(atoms: Atoms, factor: float = BOND_RADIUS_FACTOR) -> np.ndarray:
    """Atom pairs (i < j), shape (n, 2), closer than ``factor`` × the sum of their covalent radii
    (minimum image)."""
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=factor))
    return np.unique(np.stack([i, j], axis=1)[i < j], axis=0).reshape(-1, 2)


def connectivity_problem(atoms: Atoms, reference_bonds: np.ndarray) -> str | None:
    """Atoms of different ``mol_id`` closer than the sum of their covalent radii (fused molecules),
    or a bond of ``reference_bonds`` within a molecule stretched beyond BROKEN_RADIUS_FACTOR × that
    sum (broken molecule), described; else None. The gap between the factors keeps thermal
    stretches and close intermolecular contacts from counting."""
    mol_id = np.asarray(atoms.arrays["mol_id"])
    close = covalent_bonds(atoms, FUSED_RADIUS_FACTOR)
    fused = close[mol_id[close[:, 0]] != mol_id[close[:, 1]]]
    if len(fused):
        i, j = fused[0]
        return (
            f"fused molecules: mol_id {mol_id[i]} and {mol_id[j]} bonded through atoms {i} and {j} "
            f"({_pair(atoms, i, j)}), {len(fused)} such bond(s)"
        )
    n = len(atoms)
    intramolecular = reference_bonds[mol_id[reference_bonds[:, 0]] == mol_id[reference_bonds[:, 1]]]
    bonds = covalent_bonds(atoms, BROKEN_RADIUS_FACTOR)
    lost = intramolecular[~np.isin(intramolecular @ [n, 1], bonds @ [n, 1])]
    if len(lost):
        i, j = lost[0]
        return f"broken molecule: mol_id {mol_id[i]} lost the bond between atoms {i} and {j} ({_pair(atoms, i, j)}), {len(lost)} bond(s) lost"
    return None


def _pair(atoms: Atoms, i: int, j: int) -> str:
    return f"{atoms.symbols[i]}–{atoms.symbols[j]} {atoms.get_distance(i, j, mic=True):.2f} Å"


def _save_checkpoint(
    path: Path,
    dyn: MolecularDynamics,
    recorder: _Recorder,
    fingerprint: Mapping[str, str],
    step: int,
    stopped: tuple[str, int] | None,
) -> None:
    """Write the state after ``step`` (and the stability failure, if any) atomically to ``path``."""
    atoms = dyn.atoms
    arrays = {
        "step": np.int64(step),
        "positions": atoms.get_positions(),
        "momenta": atoms.get_momenta(),
        "cell": np.array(atoms.cell[:]),
        "stopped_reason": np.array(stopped[0] if stopped else ""),
        "stopped_step": np.int64(stopped[1] if stopped else -1),
        **{key: np.array(value) for key, value in fingerprint.items()},
        **_integrator_state(dyn),
        **recorder.sync(),
    }
    _write_atomically(path, lambda f: np.savez(f, **arrays))


def _load_checkpoint(path: Path, fingerprint: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Arrays of the checkpoint at ``path``; ValueError if it belongs to other settings or
    another starting structure."""
    with np.load(path) as npz:
        checkpoint = {key: npz[key] for key in npz.files}
    if "log_bytes" not in checkpoint:
        raise ValueError(f"{path} was written by an older mlipcamp that kept frames in the checkpoint; "
                         "delete its directory to start the run afresh")
    saved = json.loads(str(checkpoint["settings"]))
    wanted = json.loads(fingerprint["settings"])
    if saved != wanted:
        diff = ", ".join(f"{k}: {saved.get(k)!r} → {wanted.get(k)!r}" for k in sorted(saved.keys() | wanted.keys()) if saved.get(k) != wanted.get(k))
        raise ValueError(f"{path} was written with different settings ({diff}); delete it or use another out_dir")
    if str(checkpoint["structure"]) != fingerprint["structure"]:
        raise ValueError(f"{path} was written for a different starting structure; delete it or use another out_dir")
    return checkpoint


def _stopped(checkpoint: Mapping[str, np.ndarray]) -> tuple[str, int] | None:
    reason = str(checkpoint["stopped_reason"])
    return (reason, int(checkpoint["stopped_step"])) if reason else None


def _settings_json(settings: MDSettings) -> str:
    return json.dumps(asdict(settings), sort_keys=True, default=lambda value: value.item())


def _structure_hash(atoms: Atoms) -> str:
    """SHA-256 of the starting structure: numbers, positions, cell, masses, mol_id."""
    digest = hashlib.sha256()
    arrays = (atoms.numbers, atoms.positions, atoms.cell[:], atoms.get_masses(), atoms.arrays["mol_id"])
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` through a temporary file in its directory, fsynced, then renamed over it:
    readers see the old or the new file, never a partial one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
    steps, time_ps, masses (amu), numbers, mol_id, production_start_step (scalar)."""
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}
