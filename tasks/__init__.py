"""Prefect tasks, one module per stage: each looks its result up in the database by a hash of its
inputs (``keys``), computes it with the plain science functions when missing, and records it."""

import warnings

# torch.load notices that mace-torch and e3nn trigger on every model load; they say nothing about our runs.
warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
warnings.filterwarnings("ignore", message=".*weights_only.*", category=FutureWarning)
