"""The one place a MACE model file becomes an ASE calculator (MD, sampling, evaluation)."""

from __future__ import annotations

from pathlib import Path

from ase.calculators.calculator import Calculator

from mlipcamp.science.devices import resolve_device


def mace_calculator(
    model_path: str | Path, device: str = "auto", default_dtype: str = "float64", n_threads: int | None = None
) -> Calculator:
    """A MACECalculator of the ``.model`` file on ``device`` ('auto', 'cpu', 'cuda') in ``default_dtype``;
    ``n_threads`` sets torch's CPU threads of this process."""
    import torch
    from mace.calculators import MACECalculator

    if n_threads is not None:
        torch.set_num_threads(n_threads)
    return MACECalculator(model_paths=str(model_path), device=resolve_device(device), default_dtype=default_dtype)
