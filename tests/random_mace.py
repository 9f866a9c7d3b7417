"""A small MACE model with random weights, saved like a trained one: a real MACE calculator for
tests that need its cost and interface, not its physics."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_random_mace(
    path: Path,
    atomic_numbers: list[int],
    r_max: float = 4.0,
    channels: int = 8,
    interaction_scale: float = 0.01,
    seed: int = 0,
) -> Path:
    """Write a float64 ScaleShiftMACE (max_L 0, 2 interactions, correlation 2) for the given
    elements to ``path``; ``interaction_scale`` (eV) keeps its random forces small."""
    import torch
    from mace import modules  # first: it lets torch load e3nn's pickled constants

    # isort: split
    from e3nn import o3

    torch.manual_seed(seed)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = modules.ScaleShiftMACE(
            r_max=r_max,
            num_bessel=8,
            num_polynomial_cutoff=5,
            max_ell=2,
            interaction_cls=block,
            interaction_cls_first=block,
            num_interactions=2,
            num_elements=len(atomic_numbers),
            hidden_irreps=o3.Irreps(f"{channels}x0e"),
            MLP_irreps=o3.Irreps("16x0e"),
            atomic_energies=np.zeros(len(atomic_numbers)),
            avg_num_neighbors=10.0,
            atomic_numbers=sorted(atomic_numbers),
            correlation=2,
            gate=torch.nn.functional.silu,
            atomic_inter_scale=interaction_scale,
            atomic_inter_shift=0.0,
        )
    finally:
        torch.set_default_dtype(default_dtype)
    torch.save(model, path)
    return Path(path)
