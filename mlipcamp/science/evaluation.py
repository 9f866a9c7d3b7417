"""Predictions of a trained MACE model, their errors against reference labels, and learning-curve statistics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from mlipcamp.science.mace_calculator import mace_calculator


def predict(
    model_path: Path, structures: Sequence[Atoms], device: str = "cpu", default_dtype: str = "float64"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Energies (eV, shape (n,)) and forces (eV/Å, one (n_atoms, 3) array each) of a MACE model on
    ``device`` ('auto', 'cpu', 'cuda')."""
    calc = mace_calculator(model_path, device, default_dtype)
    energies, forces = [], []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(np.array(atoms.get_forces()))
    return np.array(energies, dtype=float), forces


def _per_atom_and_component_errors(
    ref_energies_eV: Sequence[float],
    pred_energies_eV: Sequence[float],
    n_atoms: Sequence[int],
    ref_forces: Sequence[np.ndarray],
    pred_forces: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Energy errors per atom (eV/atom) and all force-component errors (eV/Å), shapes checked."""
    ref_e, pred_e, n = (np.asarray(x, dtype=float) for x in (ref_energies_eV, pred_energies_eV, n_atoms))
    if not (ref_e.shape == pred_e.shape == n.shape and len(ref_forces) == len(pred_forces) == len(n) > 0):
        raise ValueError("energies, atom counts and forces must describe the same non-empty set of structures")
    if np.any(n < 1):
        raise ValueError("every structure needs at least one atom")
    ref_f = np.concatenate([np.asarray(f, dtype=float).reshape(-1) for f in ref_forces])
    pred_f = np.concatenate([np.asarray(f, dtype=float).reshape(-1) for f in pred_forces])
    if ref_f.shape != pred_f.shape or ref_f.size != 3 * int(n.sum()):
        raise ValueError(f"force arrays hold {ref_f.size} and {pred_f.size} components for {int(n.sum())} atoms")
    return (pred_e - ref_e) / n, pred_f - ref_f


def error_metrics(
    ref_energies_eV: Sequence[float],
    pred_energies_eV: Sequence[float],
    n_atoms: Sequence[int],
    ref_forces: Sequence[np.ndarray],
    pred_forces: Sequence[np.ndarray],
) -> dict[str, float]:
    """RMSE/MAE of per-atom energies (meV/atom) and of all force components (meV/Å)."""
    de, df = _per_atom_and_component_errors(ref_energies_eV, pred_energies_eV, n_atoms, ref_forces, pred_forces)
    return {
        "rmse_e_mev_per_atom": 1000.0 * float(np.sqrt(np.mean(de**2))),
        "mae_e_mev_per_atom": 1000.0 * float(np.mean(np.abs(de))),
        "rmse_f_mev_per_ang": 1000.0 * float(np.sqrt(np.mean(df**2))),
        "mae_f_mev_per_ang": 1000.0 * float(np.mean(np.abs(df))),
    }


def decomposition_errors(
    structures: Sequence[Atoms], ref_forces: Sequence[np.ndarray], pred_forces: Sequence[np.ndarray]
) -> dict[str, dict[str, float]]:
    """RMSE (meV/Å) and relative RMSE of the translational, rotational and vibrational force parts.

    Molecules come from ``arrays['mol_id']`` (covalent connectivity when absent) and are made
    whole across periodic boundaries before the decomposition.
    """
    from mlipcamp.science.force_decomposition import component_errors, decompose_forces
    from mlipcamp.science.structures import make_molecules_whole, molecule_ids

    refs, preds = [], []
    for atoms, ref, pred in zip(structures, ref_forces, pred_forces, strict=True):
        mol_id = atoms.arrays["mol_id"] if "mol_id" in atoms.arrays else molecule_ids(atoms)
        whole = make_molecules_whole(atoms, mol_id) if atoms.pbc.any() else atoms
        args = (whole.positions, whole.get_masses(), mol_id)
        refs.append(decompose_forces(args[0], np.asarray(ref), args[1], args[2]))
        preds.append(decompose_forces(args[0], np.asarray(pred), args[1], args[2]))
    return component_errors(refs, preds)


def _mean_and_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the non-None values; None where too few for either."""
    kept = np.array([v for v in values if v is not None], dtype=float)
    mean = float(kept.mean()) if kept.size else None
    std = float(kept.std(ddof=1)) if kept.size > 1 else None
    return mean, std


def learning_curve_table(rows: Sequence[dict]) -> list[dict]:
    """Per (series, size), sorted: model count, mean and sample std of the test RMSEs.

    Each row holds ``series``, ``size`` (training structures), ``rmse_e_mev_per_atom`` (meV/atom)
    and ``rmse_f_mev_per_ang`` (meV/Å); a None RMSE is left out of that statistic. A mean is None
    without values, a standard deviation None with fewer than two.
    """
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((str(row["series"]), int(row["size"])), []).append(row)
    table = []
    for (series, size), members in sorted(groups.items()):
        e_mean, e_std = _mean_and_std([m["rmse_e_mev_per_atom"] for m in members])
        f_mean, f_std = _mean_and_std([m["rmse_f_mev_per_ang"] for m in members])
        table.append(
            {
                "series": series,
                "size": size,
                "n_models": len(members),
                "rmse_e_mean": e_mean,
                "rmse_e_std": e_std,
                "rmse_f_mean": f_mean,
                "rmse_f_std": f_std,
            }
        )
    return table
