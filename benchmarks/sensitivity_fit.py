"""Variance-component refits: the sensitivity table's REML fit on matrices built once
(mlipcamp.science.sensitivity._fit), against statsmodels' formula interface rebuilding them per
fit (what the table did before), on the same synthetic grid in this process.

    .venv/bin/python benchmarks/sensitivity_fit.py [--kinds 2] [--subsets 3] [--seeds 3] [--fits 100] [--rounds 3]

The grid is a study's: data kind × subset replica (nested in the kind) × seed, one observation
per model. Each round times ``--fits`` refits of bootstrap draws with each method, interleaved;
prints the median seconds per fit of each, their ratio, and the largest difference between the
two methods' estimates (they fit the same model: it should be at rounding level).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", type=int, default=2)
    parser.add_argument("--subsets", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fits", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import statsmodels.formula.api as smf

    from mlipcamp.science.sensitivity import ZERO_VARIANCE, _fit, _simulate, _variance_components

    grid = [(k, s) for k in range(args.kinds) for s in range(args.subsets) for _ in range(args.seeds)]
    design = {
        "data_kind": pd.Series([f"{k}" for k, _ in grid]),
        "subset": pd.Series([f"{k}/{s}" for k, s in grid]),
    }
    truth = np.array([1.0, 0.04, 0.01, 0.005])  # intercept, kind, subset, residual variances
    rng = np.random.default_rng(0)
    draws = [_simulate(truth, design, len(grid), rng) for _ in range(args.fits)]

    def formula_fit(y: np.ndarray) -> np.ndarray:
        data = pd.DataFrame({"y": y, "group": 0, **{f"f{i}": c for i, c in enumerate(design.values())}})
        vc = {f"f{i}": f"0 + C(f{i})" for i in range(len(design))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.mixedlm("y ~ 1", data, groups="group", vc_formula=vc, re_formula="0").fit(reml=True)
        vcomp = np.where(fit.vcomp < ZERO_VARIANCE * y.var(), 0.0, fit.vcomp)  # as _fit does
        return np.array([fit.fe_params.iloc[0], *vcomp, fit.scale])

    def ours() -> list[np.ndarray]:
        components = _variance_components(design)  # once per table, as decompose_variance does
        return [_fit(y, components) for y in draws]

    def baseline() -> list[np.ndarray]:
        return [formula_fit(y) for y in draws]

    times: dict[str, list[float]] = {"matrices once": [], "formula per fit": []}
    for _ in range(args.rounds):
        for name, method in (("matrices once", ours), ("formula per fit", baseline)):
            start = time.perf_counter()
            method()
            times[name].append((time.perf_counter() - start) / args.fits)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(ours(), baseline(), strict=True))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{len(grid)} models, {args.fits} refits x {args.rounds} rounds")
    for name, seconds in median.items():
        print(f"  {name:16s} {seconds * 1e3:7.2f} ms per fit")
    print(f"  ratio formula / matrices: {median['formula per fit'] / median['matrices once']:.2f}")
    print(f"  largest difference of the estimates: {difference:.2e}")


if __name__ == "__main__":
    main()
