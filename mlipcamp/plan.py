"""What a campaign will compute, from its settings alone: the models with their factor values and
MD runs, and the cost per stage (structures to label, trainings and epochs, MD steps)."""

from __future__ import annotations

from collections import Counter

from mlipcamp.settings.campaign import Campaign

PLAN_COLUMNS = (
    "model",
    "purpose",
    "level_of_theory",
    "data_kind",
    "dataset_size",
    "subset_replica",
    "seed",
    "max_num_epochs",
    "md_runs",
    "md_steps",
)
GROUP_COLUMNS = ("purpose", "level_of_theory", "data_kind", "dataset_sizes", "subset_replicas", "seeds", "models")


def model_plan(campaign: Campaign) -> list[dict]:
    """One row per model the campaign trains, in training order (``PLAN_COLUMNS``)."""
    md_steps = campaign.md.steps_with_thermalization
    rows = []
    for planned in campaign.planned_models():
        runs = len(campaign.liquids) if planned.simulated else 0
        rows.append(
            {
                "model": planned.name,
                **planned.point._asdict(),
                "max_num_epochs": planned.hyper.max_num_epochs,
                "md_runs": runs,
                "md_steps": runs * md_steps,
            }
        )
    return rows


def grouped_plan(rows: list[dict]) -> list[dict]:
    """The model plan per purpose, level and data kind: the sizes, replicas and seeds it spans."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["purpose"], row["level_of_theory"], row["data_kind"]), []).append(row)

    def values(members: list[dict], field: str) -> str:
        seen = list(dict.fromkeys(member[field] for member in members))
        return ", ".join("all" if value is None else str(value) for value in seen)

    return [
        {
            "purpose": purpose,
            "level_of_theory": level,
            "data_kind": kind,
            "dataset_sizes": values(members, "dataset_size"),
            "subset_replicas": values(members, "subset_replica"),
            "seeds": values(members, "seed"),
            "models": len(members),
        }
        for (purpose, level, kind), members in groups.items()
    ]


def sampled_structures(campaign: Campaign) -> dict[str, int]:
    """Structures per data kind the sampling cuts (an upper bound: one cut twice is stored once)."""
    sampling = campaign.sampling
    if sampling is None:
        return {}
    snapshots = len(campaign.liquids) * len(sampling.temperatures) * (sampling.n_steps // sampling.snapshot_interval)
    periodic = snapshots * len(sampling.volume_factors or [1.0])
    made = {"cluster": snapshots * sampling.clusters_per_snapshot, "periodic": periodic}
    return {kind: made[kind] for kind in campaign.computed_data_kinds}


def pool_warnings(campaign: Campaign) -> list[str]:
    """One line per (level, data kind) whose largest training-set size exceeds what the data can
    supply: sampled structures (at most) plus imported training frames, less the share the
    hash-drawn test and validation sets take (an expectation). Such a size fails at selection,
    after sampling and labelling."""
    training = campaign.training
    kept = 1.0 - training.valid_fraction - training.test_fraction
    sampled = sampled_structures(campaign)
    lines = []
    for level, kind in campaign.training_pairs():
        asked = max((size for size in training.sizes(kind) if size is not None), default=None)
        imported = sum(
            d.summary.training_frames[kind] for d in campaign.datasets if d.use == "train" and d.level_name == level
        )
        supplied = (sampled.get(kind, 0) if level in campaign.computed_levels else 0) + imported
        if asked is not None and asked > supplied * kept:
            lines.append(
                f"training.dataset_sizes: {asked} {kind} structures at {level} asked, but the campaign makes "
                f"at most {supplied}, about {int(supplied * kept)} of them outside the test and validation sets"
            )
    return lines


def cost_plan(campaign: Campaign) -> list[dict]:
    """Work per stage as (stage, what, count) rows. Sampled structures are an upper bound: a
    structure cut twice is stored and labelled once."""
    rows = []
    sampling = campaign.sampling
    boxes = len(campaign.liquids) * (2 if sampling else 1)
    rows.append({"stage": "build", "what": "liquid boxes (packmol)", "count": boxes})
    if sampling is not None:
        runs = len(campaign.liquids) * len(sampling.temperatures)
        snapshots = runs * (sampling.n_steps // sampling.snapshot_interval)
        structures = sum(sampled_structures(campaign).values())
        rows += [
            {"stage": "sample", "what": f"MD runs × {sampling.n_steps} steps ({sampling.potential})", "count": runs},
            {"stage": "sample", "what": "snapshots", "count": snapshots},
        ]
        rows += [
            {"stage": "label", "what": f"structures at {level} (at most)", "count": structures}
            for level in campaign.computed_levels
        ]
    for dataset in campaign.datasets:
        counts = Counter(dataset.summary.kinds)
        trained = sum(dataset.summary.training_frames.values())
        atoms = f", {counts['isolated_atom']} isolated atoms" if counts["isolated_atom"] else ""
        rows.append(
            {
                "stage": "import",
                "what": f"{dataset.name} ({dataset.use}, {dataset.level_name}{atoms})",
                "count": trained,
            }
        )
    models = model_plan(campaign)
    rows += [
        {"stage": "train", "what": "models", "count": len(models)},
        {"stage": "train", "what": "epochs (at most)", "count": sum(m["max_num_epochs"] for m in models)},
        {"stage": "simulate", "what": f"MD runs ({campaign.md.ensemble})", "count": sum(m["md_runs"] for m in models)},
        {"stage": "simulate", "what": "MD steps", "count": sum(m["md_steps"] for m in models)},
        {
            "stage": "simulate",
            "what": "simulated time (ns)",
            "count": sum(m["md_steps"] for m in models) * campaign.md.timestep * 1e-6,
        },
    ]
    return rows
