"""The one place a MACE model file becomes an ASE calculator (MD, sampling, evaluation)."""

from __future__ import annotations

from pathlib import Path

from ase.calculators.calculator import Calculator

from mlipcamp.science.devices import resolve_device

NO_FUSION = [("STATIC", 0), ("DYNAMIC", 0)]  # torch.jit.set_fusion_strategy: never fuse


def mace_calculator(
    model_path: str | Path, device: str = "auto", default_dtype: str = "float64", n_threads: int | None = None
) -> Calculator:
    """A MACECalculator of the ``.model`` file on ``device`` ('auto', 'cpu', 'cuda') in ``default_dtype``;
    ``n_threads`` sets torch's CPU threads of this process.

    TorchScript's fuser is turned off in this process: e3nn's scripted tensor products run
    unfused for their first (profiling) calls and fused afterwards, and the two differ in the last
    bit. An MD run resumed from a checkpoint would compute its first forces on the other path
    than the uninterrupted run did, and chaos would turn that bit into another trajectory.
    """
    import torch
    from mace.calculators import MACECalculator

    torch.jit.set_fusion_strategy(NO_FUSION)
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    return MACECalculator(model_paths=str(model_path), device=resolve_device(device), default_dtype=default_dtype)
