"""The MACE calculator gives the same bits on its first call as on later ones, so an MD run resumed
from any checkpoint (whose first forces come from a first call) follows the uninterrupted run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from random_mace import save_random_mace

from mlipcamp.science.md import MolecularDynamics, run_md
from mlipcamp.science.structures import build_box

FIRST_CALLS = """
import sys
import numpy as np
from mlipcamp.science.mace_calculator import mace_calculator
from mlipcamp.science.structures import build_box

box = build_box([("C1COC(=O)O1", 8)], 1.32, seed=5)
calc = mace_calculator(sys.argv[1], "cpu", "float64", 1)
forces = []
for _ in range(3):
    calc.reset()
    box.calc = calc
    forces.append(box.get_forces().copy())
print(max(float(np.abs(f - forces[-1]).max()) for f in forces))
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A random MACE model with forces of liquid size (chaotic MD), for H, C and O."""
    path = tmp_path_factory.mktemp("mace") / "random.model"
    return save_random_mace(path, [1, 6, 8], r_max=5.0, channels=16, interaction_scale=1.0)


def test_first_call_gives_the_same_bits_as_later_calls(model):
    # a fresh process: TorchScript's executor state is per process
    out = subprocess.run([sys.executable, "-c", FIRST_CALLS, str(model)], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip().splitlines()[-1]) == 0.0


RESUME = """
import json, sys
from mlipcamp.science.mace_calculator import mace_calculator
from mlipcamp.science.md import MolecularDynamics, run_md
from mlipcamp.science.structures import build_box

model, settings, out_dir, nudge = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
box = build_box([("C1COC(=O)O1", 8)], 1.32, seed=5)
box.positions[0, 0] += nudge
result = run_md(box, mace_calculator(model, "cpu", "float32", 1), MolecularDynamics(**settings), 313.0, 1.0, out_dir)
print(result.resumed_from_step)
"""
SETTINGS = {
    "n_molecules": 8,
    "n_steps": 400,
    "log_interval": 10,
    "trajectory_interval": 10,
    "checkpoint_interval": 50,
    "stability": {"check_connectivity": False, "density_window": [0.01, 10.0], "max_force": 1e6},
}


def in_a_new_process(model: Path, out_dir: Path, nudge_ang: float = 0.0) -> subprocess.Popen:
    """run_md of the test's box (its first atom moved by ``nudge_ang`` along x) and SETTINGS in
    ``out_dir``, as a new job would; it prints the step it resumed from."""
    args = [sys.executable, "-c", RESUME, str(model), json.dumps(SETTINGS), str(out_dir), repr(nudge_ang)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def resumed_from(run: subprocess.Popen) -> int:
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-3000:]
    return int(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_md_resumed_from_any_checkpoint_follows_the_uninterrupted_run(model, tmp_path):
    """400 steps of NPT with checkpoints every 50, the calculator in float32 (where a first call's
    last bit moves a force by ~1e-8 eV/Å): resumed in a new process from each of four checkpoints,
    as a new job would, the final state and the log equal the uninterrupted run's."""
    from mlipcamp.science.mace_calculator import mace_calculator

    copies = tmp_path / "copies"

    def keep_checkpoint(done: int, total: int) -> None:
        if done in (100, 200, 250, 350):
            shutil.copytree(tmp_path / "whole", copies / str(done))

    # chaos: a run from a slightly different start ends far away, so equal bits mean an exact resume;
    # the nudged run and the resumed ones are independent processes, run alongside each other
    nudged = in_a_new_process(model, tmp_path / "nudged", nudge_ang=1e-6)
    box = build_box([("C1COC(=O)O1", 8)], 1.32, seed=5)
    whole = run_md(
        box,
        mace_calculator(model, "cpu", "float32", 1),
        MolecularDynamics(**SETTINGS),
        313.0,
        1.0,
        tmp_path / "whole",
        keep_checkpoint,
    )
    final = np.load(whole.checkpoint_path)
    resumed = {step: in_a_new_process(model, copies / str(step)) for step in (100, 200, 250, 350)}
    assert resumed_from(nudged) == 0
    assert np.abs(np.load(tmp_path / "nudged" / "checkpoint.npz")["positions"] - final["positions"]).max() > 1e-4
    for step, run in resumed.items():
        assert resumed_from(run) == step
        again = np.load(copies / str(step) / "checkpoint.npz")
        for key in ("positions", "momenta", "cell"):
            np.testing.assert_array_equal(again[key], final[key], err_msg=f"{key}, resumed from step {step}")
        assert (copies / str(step) / "md_log.csv").read_text() == whole.log_path.read_text()
