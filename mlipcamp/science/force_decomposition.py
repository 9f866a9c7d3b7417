"""Study B: split atomic forces into per-molecule translational, rotational and vibrational parts.

For each molecule (atoms grouped by ``mol_id``), with masses m_i (amu), COM-relative
positions r'_i = r_i - r_com (Å), forces f_i (eV/Å) and M = Σ m_i:

* net force        F = Σ f_i
* torque about COM τ = Σ r'_i × f_i
* inertia tensor   I = Σ m_i (|r'_i|² 1 - r'_i r'_iᵀ)

and the components are

* f_trans,i = (m_i / M) F                       (rigid translation of the molecule)
* f_rot,i   = m_i (α × r'_i),  α = I⁻¹ τ          (rigid rotation about the COM)
* f_vib,i   = f_i - f_trans,i - f_rot,i          (everything internal)

so that, per molecule, the translational part carries all of F and no torque, the rotational
part carries all of τ and no net force, and the vibrational part carries neither. The split is
linear in the forces, so the components of a force error are the errors of the components.

Degenerate molecules:

* a single atom has I = 0 and τ = 0: it is pure translation (rotational part zero, and its
  vibrational part is zero too);
* a linear molecule has a singular I (no moment about its axis). Its torque is always
  perpendicular to the axis, i.e. in the range of I, so α = I⁺ τ with the Moore–Penrose
  pseudo-inverse (``np.linalg.pinv``) is exact there: it reproduces τ and gives no spin about
  the axis. Principal moments below ``PINV_RCOND`` times the largest one are treated as zero,
  so molecules linear up to floating-point noise are handled as linear.

Positions must be whole molecules (unwrapped across periodic boundaries); a molecule split by the
cell would get a wrong COM and lever arms. The forces and positions of ``ref`` and ``pred`` must
be decomposed with the same positions, masses and ``mol_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

COMPONENTS = ("translational", "rotational", "vibrational")

#: relative cutoff on the principal moments of inertia for the pseudo-inverse (see module doc)
PINV_RCOND = 1e-10


@dataclass
class ForceComponents:
    """Per-atom force components of one structure; they sum to the total forces."""

    translational: np.ndarray  # (n_atoms, 3) eV/Å
    rotational: np.ndarray  # (n_atoms, 3) eV/Å
    vibrational: np.ndarray  # (n_atoms, 3) eV/Å


def decompose_forces(
    positions: np.ndarray, forces: np.ndarray, masses: np.ndarray, mol_id: np.ndarray
) -> ForceComponents:
    """Translational, rotational and vibrational parts of ``forces`` (eV/Å), molecule by molecule.

    ``positions`` (n_atoms, 3) Å, whole molecules; ``masses`` (n_atoms,) amu, positive;
    ``mol_id`` (n_atoms,) integer label of each atom's molecule (any labels, atoms of a molecule
    need not be contiguous). Vectorised over molecules; see the module docstring for formulas.
    """
    r = np.asarray(positions, dtype=float)
    f = np.asarray(forces, dtype=float)
    m = np.asarray(masses, dtype=float)
    ids = np.asarray(mol_id)
    n = len(m)
    if r.shape != (n, 3) or f.shape != (n, 3) or m.shape != (n,) or ids.shape != (n,):
        raise ValueError(
            f"positions {r.shape} and forces {f.shape} must be (n_atoms, 3), masses {m.shape} "
            f"and mol_id {ids.shape} (n_atoms,)"
        )
    if n == 0:
        raise ValueError("no atoms to decompose")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"mol_id must be an integer array, got dtype {ids.dtype}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(f)) and np.all(np.isfinite(m))):
        raise ValueError("positions, forces and masses must be finite")
    if np.any(m <= 0):
        raise ValueError("masses must be positive")

    _, inv = np.unique(ids, return_inverse=True)
    inv = inv.reshape(-1)
    n_mol = int(inv.max()) + 1

    mol_mass = np.bincount(inv, weights=m, minlength=n_mol)  # (n_mol,)
    com = np.zeros((n_mol, 3))
    np.add.at(com, inv, m[:, None] * r)
    com /= mol_mass[:, None]
    rp = r - com[inv]  # r', (n, 3)

    net_force = np.zeros((n_mol, 3))
    np.add.at(net_force, inv, f)
    torque = np.zeros((n_mol, 3))
    np.add.at(torque, inv, np.cross(rp, f))
    atom_inertia = m[:, None, None] * (
        np.einsum("ij,ij->i", rp, rp)[:, None, None] * np.eye(3) - rp[:, :, None] * rp[:, None, :]
    )
    inertia = np.zeros((n_mol, 3, 3))
    np.add.at(inertia, inv, atom_inertia)

    # I is symmetric positive semi-definite; pinv is exact for single atoms (I = 0 -> α = 0)
    # and linear molecules (τ lies in the range of I).
    alpha = np.einsum("kij,kj->ki", np.linalg.pinv(inertia, rcond=PINV_RCOND, hermitian=True), torque)

    f_trans = (m / mol_mass[inv])[:, None] * net_force[inv]
    f_rot = m[:, None] * np.cross(alpha[inv], rp)
    f_vib = f - f_trans - f_rot
    return ForceComponents(translational=f_trans, rotational=f_rot, vibrational=f_vib)


def component_errors(ref: Sequence[ForceComponents], pred: Sequence[ForceComponents]) -> dict[str, dict[str, float]]:
    """Errors of each force component of ``pred`` against ``ref``, pooled over all structures.

    Returns ``{component: {"rmse_mev_per_ang": ..., "relative_rmse": ...}}`` for
    'translational', 'rotational' and 'vibrational': the RMSE (meV/Å) over every Cartesian
    component of every atom of every structure, and that RMSE divided by the RMS of the reference
    component over the same entries (dimensionless; NaN where the reference component is
    identically zero, e.g. the rotational part of a set of single atoms).
    """
    if len(ref) != len(pred) or len(ref) == 0:
        raise ValueError(f"need the same non-empty number of structures, got {len(ref)} ref and {len(pred)} pred")
    out: dict[str, dict[str, float]] = {}
    for name in COMPONENTS:
        refs = [np.asarray(getattr(c, name), dtype=float) for c in ref]
        preds = [np.asarray(getattr(c, name), dtype=float) for c in pred]
        for i, (a, b) in enumerate(zip(refs, preds, strict=True)):
            if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 3:
                raise ValueError(f"structure {i}: {name} shapes differ or are not (n_atoms, 3): {a.shape} vs {b.shape}")
        a = np.concatenate([x.ravel() for x in refs])
        b = np.concatenate([x.ravel() for x in preds])
        rmse = float(np.sqrt(np.mean((b - a) ** 2)))
        rms_ref = float(np.sqrt(np.mean(a**2)))
        out[name] = {
            "rmse_mev_per_ang": 1000.0 * rmse,
            "relative_rmse": rmse / rms_ref if rms_ref > 0 else float("nan"),
        }
    return out
