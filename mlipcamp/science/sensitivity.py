"""How much of an observable's spread over a campaign's models comes from each training choice.

Variance components by restricted maximum likelihood (statsmodels ``MixedLM``, one group, one
variance component per factor: crossed random effects, Searle, Casella & McCulloch, *Variance
Components* (1992)) with percentile intervals from a parametric bootstrap. Every observation
carries its own MD standard error; their mean square is the MD noise, the part of the spread that
longer runs would remove. The replicate factor (the training seed, innermost) is what is left
between models of one setting beyond that noise. Ranking stability uses Kendall's coefficient of
concordance W (Kendall & Babington Smith, Ann. Math. Stat. 10, 275 (1939)).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

RESIDUAL = "residual"
CONFIDENCE = 0.95
# REML optimisers approach a variance on the boundary without reaching it: a fitted variance below
# this fraction of the observable's variance (a share under 0.01 %) is zero.
ZERO_VARIANCE = 1e-4


@dataclass(frozen=True)
class Component:
    """One factor's variance (units of the observable, squared), its share of the total, 95 %
    percentile intervals, and whether it stands above the MD noise (its interval's lower end
    exceeds the mean squared MD standard error; None without standard errors)."""

    factor: str
    variance: float
    variance_low: float
    variance_high: float
    share: float
    share_low: float
    share_high: float
    n_levels: int
    resolved_above_md_noise: bool | None


@dataclass(frozen=True)
class Decomposition:
    """The components of one observable (the residual last) over ``n_models`` models."""

    components: list[Component]
    n_models: int
    md_noise_variance: float | None  # mean squared MD standard error
    method: str

    def component(self, factor: str) -> Component:
        return next(c for c in self.components if c.factor == factor)


def decompose_variance(
    rows: Sequence[Mapping] | pd.DataFrame,
    value: str,
    factors: Sequence[str],
    sem: str | None = None,
    replicate: str | None = None,
    nested: Mapping[str, Sequence[str]] | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> Decomposition:
    """Variance components of ``value`` over ``factors`` (columns of ``rows``), each a random effect.

    ``nested[f]`` lists the factors that ``f`` is nested in: its levels are then the combinations
    (e.g. a subset replica is a draw from one level, kind and size). Factors with a single level are
    left out. ``replicate`` names the innermost factor (one observation per level within each
    setting of the others, e.g. the seed): its variance is the model residual less the MD noise
    (the mean of ``sem``² when given), and the reported residual is that noise. Without
    ``replicate`` the residual is the model's. Intervals: parametric bootstrap with ``n_bootstrap``
    refits, percentile 95 %.
    """
    frame = _frame(rows, value, factors, sem)
    nested = dict(nested or {})
    design = {f: _codes(frame, f, nested.get(f, ())) for f in factors if f != replicate}
    design = {f: codes for f, codes in design.items() if codes.nunique() > 1}
    # A nested factor with one level in every setting of its parents is that setting: not separable.
    inseparable = [
        f for f in design if f in nested and design[f].nunique() == len(frame.groupby(list(nested[f]), dropna=False))
    ]
    design = {f: codes for f, codes in design.items() if f not in inseparable}
    aliases = _aliases(design)
    design = {f: codes for f, codes in design.items() if f not in aliases}
    if design and len(frame) < 3:
        raise ValueError(f"{len(frame)} observations of {value}: separating {', '.join(design)} needs at least 3")
    noise = float(np.mean(frame[sem] ** 2)) if sem else None
    components = _variance_components(design)
    estimate = _fit(frame[value].to_numpy(float), components)
    rng = np.random.default_rng(seed)
    draws = np.array([_fit(_simulate(estimate, design, len(frame), rng), components) for _ in range(n_bootstrap)])
    point = _components(estimate, noise, replicate)
    boot = np.array([_components(d, noise, replicate) for d in draws])
    with np.errstate(invalid="ignore"):  # an observable without any spread has no shares (NaN)
        shares, boot_shares = point / point.sum(), boot / boot.sum(axis=1, keepdims=True)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no spread in any draw
        share_low, share_high = np.nanpercentile(boot_shares, [tail, 100 - tail], axis=0)
    labels = [*design, *([replicate] if replicate else []), RESIDUAL]
    levels = [codes.nunique() for codes in design.values()] + ([frame[replicate].nunique()] if replicate else [])
    components = [
        Component(
            factor=label,
            variance=float(point[i]),
            variance_low=float(low[i]),
            variance_high=float(high[i]),
            share=float(shares[i]),
            share_low=float(share_low[i]),
            share_high=float(share_high[i]),
            n_levels=int(levels[i]) if i < len(levels) else len(frame),
            resolved_above_md_noise=None if noise is None or label == RESIDUAL else bool(low[i] > noise),
        )
        for i, label in enumerate(labels)
    ]
    method = (
        f"REML variance components (statsmodels MixedLM) over {', '.join(design) or 'no factor'}; "
        f"{n_bootstrap} parametric-bootstrap refits, {CONFIDENCE:.0%} percentile intervals"
        + "".join(f"; {f} left out: one level per setting of {'+'.join(nested[f])}" for f in inseparable)
        + "".join(f"; {f} left out: it groups the models exactly as {alias} does" for f, alias in aliases.items())
    )
    return Decomposition(components, len(frame), noise, method)


def _frame(
    rows: Sequence[Mapping] | pd.DataFrame, value: str, factors: Sequence[str], sem: str | None, minimum: int = 2
) -> pd.DataFrame:
    """The rows with a value (and a standard error, when named) as a table; ValueError naming a missing
    column, or when fewer than ``minimum`` rows remain."""
    frame = pd.DataFrame(rows)
    missing = [c for c in [value, *factors, *([sem] if sem else [])] if c not in frame]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}; columns: {', '.join(map(str, frame.columns))}")
    frame = frame.dropna(subset=[value, *([sem] if sem else [])]).reset_index(drop=True)
    if len(frame) < minimum:
        raise ValueError(f"{len(frame)} observations of {value}: at least {minimum} are needed")
    return frame


def _aliases(design: Mapping[str, pd.Series]) -> dict[str, str]:
    """Factor -> the earlier factor whose levels it merely renames (e.g. one dataset size per data
    kind): the two are confounded, one variance between them, so only the first is fitted."""
    aliases: dict[str, str] = {}
    for i, (factor, codes) in enumerate(design.items()):
        for earlier, earlier_codes in list(design.items())[:i]:
            if earlier not in aliases and _same_grouping(codes, earlier_codes):
                aliases[factor] = earlier
                break
    return aliases


def _same_grouping(a: pd.Series, b: pd.Series) -> bool:
    """Whether two level columns split the rows into the same groups."""
    pairs = pd.DataFrame({"a": a.to_numpy(), "b": b.to_numpy()}).drop_duplicates()
    return len(pairs) == a.nunique() == b.nunique()


def _codes(frame: pd.DataFrame, factor: str, parents: Sequence[str]) -> pd.Series:
    """A factor's level per row, as text; combined with its parents' levels when nested."""
    columns = [*parents, factor]
    return frame[columns].astype(str).agg("/".join, axis=1)


def _variance_components(design: Mapping[str, pd.Series]) -> VCSpec:
    """The factors as statsmodels' variance components of one group holding every row: per factor,
    its level indicators (one column per level). Built once per decomposition, not per refit: the
    formula interface took 40 % of a bootstrap's time rebuilding the same matrices."""
    names, columns, matrices = [], [], []
    for i, codes in enumerate(design.values()):
        levels, index = np.unique(codes.to_numpy(), return_inverse=True)
        names.append(f"f{i}")
        columns.append([[f"f{i}[{level}]" for level in levels]])
        matrices.append([np.eye(len(levels))[index]])
    return VCSpec(names, columns, matrices)


def _fit(y: np.ndarray, components: VCSpec) -> np.ndarray:
    """(intercept, variance of each factor, residual variance) by REML, a random intercept-free
    mixed model of ``y ~ 1`` with ``components``; plain variance without components."""
    if not components.names:
        return np.array([y.mean(), y.var(ddof=1)])
    n = len(y)
    model = MixedLM(y, np.ones((n, 1)), groups=np.zeros(n), exog_re=np.zeros((n, 0)), exog_vc=components)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary fits (a variance at 0) warn; 0 is the estimate then
        fit = model.fit(reml=True)
    vcomp = np.where(fit.vcomp < ZERO_VARIANCE * y.var(), 0.0, fit.vcomp)
    return np.array([np.asarray(fit.fe_params)[0], *vcomp, fit.scale])


def _simulate(estimate: np.ndarray, design: Mapping[str, pd.Series], n: int, rng: np.random.Generator) -> np.ndarray:
    """Observations drawn from the fitted model: new effects per level, new residuals."""
    y = np.full(n, estimate[0])
    for variance, codes in zip(estimate[1:-1], design.values(), strict=True):
        levels, index = np.unique(codes.to_numpy(), return_inverse=True)
        y += rng.normal(0.0, np.sqrt(variance), len(levels))[index]
    return y + rng.normal(0.0, np.sqrt(estimate[-1]), n)


def _components(estimate: np.ndarray, noise: float | None, replicate: str | None) -> np.ndarray:
    """The factor variances and the residual; with a replicate factor, the residual split into the
    replicate's variance (beyond the MD noise) and the noise."""
    factors, residual = estimate[1:-1], estimate[-1]
    if replicate is None:
        return np.array([*factors, residual])
    noise = noise or 0.0
    return np.array([*factors, max(residual - noise, 0.0), min(noise, residual)])


@dataclass(frozen=True)
class RankingStability:
    """How consistently draws (e.g. seed × subset) rank the levels of a factor: Kendall's W over the
    complete draws (1 = the same order every time), the fraction of draws whose order is that of
    the levels' means, and the smallest difference of two level means that the within-level spread
    resolves at 95 % (1.96 × √(2 s²/n), s² the pooled within-level variance, n draws)."""

    order: list[str]  # levels by their mean, ascending
    kendall_w: float
    agreeing_fraction: float
    n_draws: int
    min_resolvable_difference: float


def ranking_stability(
    rows: Sequence[Mapping] | pd.DataFrame, value: str, factor: str, draw: Sequence[str]
) -> RankingStability:
    """Ranking of ``factor``'s levels by ``value`` within each draw (rows sharing the ``draw``
    columns); draws missing a level are left out."""
    frame = _frame(rows, value, [factor, *draw], None, minimum=4)
    table = frame.pivot_table(index=list(draw), columns=factor, values=value, aggfunc="mean").dropna()
    m, n = table.shape
    if m < 2 or n < 2:
        raise ValueError(f"ranking {factor} needs at least 2 levels in 2 complete draws, got {n} in {m}")
    ranks = table.rank(axis=1).to_numpy()
    spread = ((ranks.sum(axis=0) - m * (n + 1) / 2) ** 2).sum()
    order = list(table.mean().sort_values().index.astype(str))
    mean_order = table.mean().rank().to_numpy()
    within = float(table.sub(table.mean(), axis=1).pow(2).to_numpy().sum() / (n * (m - 1)))
    return RankingStability(
        order=order,
        kendall_w=float(12 * spread / (m**2 * (n**3 - n))),
        agreeing_fraction=float(np.mean([(r == mean_order).all() for r in ranks])),
        n_draws=m,
        min_resolvable_difference=float(1.96 * np.sqrt(2 * within / m)),
    )


SENSITIVITY_COLUMNS = (
    "liquid",
    "observable",
    "factor",
    "variance",
    "share",
    "share_low",
    "share_high",
    "n_models",
    "n_excluded",
    "resolved_above_md_noise",
)


def sensitivity_table(
    rows: Sequence[Mapping] | pd.DataFrame,
    observables: Mapping[str, str | None],
    factors: Sequence[str],
    replicate: str | None = None,
    nested: Mapping[str, Sequence[str]] | None = None,
    liquid: str | None = "liquid",
    n_bootstrap: int = 200,
    seed: int = 0,
) -> list[dict]:
    """``decompose_variance`` of every observable (column -> its standard-error column or None) per
    liquid (the ``liquid`` column; one table without it), as rows with SENSITIVITY_COLUMNS plus
    ``variance_low``, ``variance_high``, ``n_levels`` and ``method``. A row without a value for an
    observable is excluded from it and counted in ``n_excluded``; an observable with too few models
    left gets one residual row without numbers, its method saying why."""
    frame = pd.DataFrame(rows)
    if liquid is None or liquid not in frame:
        frame = frame.assign(_liquid="")
        liquid = "_liquid"
    frame[liquid] = frame[liquid].fillna("").astype(str)
    table = []
    for name, group in frame.groupby(liquid, sort=True):
        for observable, sem in observables.items():
            if observable not in group:
                raise ValueError(f"no column {observable}; columns: {', '.join(map(str, frame.columns))}")
            usable = group.dropna(subset=[observable, *([sem] if sem else [])])
            head = {
                "liquid": name,
                "observable": observable,
                "n_models": len(usable),
                "n_excluded": len(group) - len(usable),
            }
            try:
                result = decompose_variance(usable, observable, factors, sem, replicate, nested, n_bootstrap, seed)
            except ValueError as exc:
                left_out = (
                    f"{head['n_excluded']} of {len(group)} models left out (no usable value), "
                    if head["n_excluded"]
                    else ""
                )
                table.append(head | {"factor": RESIDUAL, "method": f"not decomposed: {left_out}{exc}"})
                continue
            table += [head | _finite(asdict(c)) | {"method": result.method} for c in result.components]
    return table


def _finite(values: dict) -> dict:
    """NaN (a share of no spread at all) as None."""
    return {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in values.items()}


def run_outcomes(results: Sequence[Mapping], factors: Sequence[str]) -> list[dict]:
    """Per liquid, over all runs (factor and level "all") and per level of each factor that varies:
    how many MD runs there are, and how
    many were usable, unstable (stopped by the stability watch), failed or missing, or gave a density
    that did not converge; ``instability_rate`` = unstable / runs. Rows need ``liquid``,
    ``md_status`` (ok, unstable, failed, …) and ``density_converged``."""
    table = []
    for liquid in sorted({r["liquid"] for r in results}):
        group = [r for r in results if r["liquid"] == liquid]
        by_level = [("all", "all", group)]
        for factor in factors:
            levels = sorted({r[factor] for r in group}, key=str)
            by_level += [
                (factor, level, [r for r in group if r[factor] == level]) for level in levels if len(levels) > 1
            ]
        for factor, level, runs in by_level:
            if runs:
                status = [r["md_status"] for r in runs]
                unconverged = sum(
                    s == "ok" and r["density_converged"] is not True for s, r in zip(status, runs, strict=True)
                )
                table.append(
                    {
                        "liquid": liquid,
                        "factor": factor,
                        "level": level,
                        "n_runs": len(runs),
                        "n_usable": status.count("ok") - unconverged,
                        "n_unstable": status.count("unstable"),
                        "n_failed": len(runs) - status.count("ok") - status.count("unstable"),
                        "n_unconverged": unconverged,
                        "instability_rate": status.count("unstable") / len(runs),
                    }
                )
    return table
