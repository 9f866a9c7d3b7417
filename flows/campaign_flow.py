"""The campaign flow: composes the Prefect tasks of ``mlipcamp.tasks``; no science here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dask
from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed, wait
from prefect.states import Completed, State

from mlipcamp.flows.batching import balanced_batches, qm_cost
from mlipcamp.flows.clusters import task_resources
from mlipcamp.science.training.settings import MaceHyperparameters
from mlipcamp.settings.campaign import Campaign, GridPoint, Labelling, PlannedModel
from mlipcamp.settings.execution import LabellingExecution
from mlipcamp.tasks.analyse import analyse_run
from mlipcamp.tasks.build import build_liquid_box
from mlipcamp.tasks.compare import compare_models
from mlipcamp.tasks.evaluate import evaluate_model
from mlipcamp.tasks.label import label_batch, record_label_failure, structures_to_label
from mlipcamp.tasks.labelled_files import import_dataset
from mlipcamp.tasks.report import write_report
from mlipcamp.tasks.sample import sample_structures
from mlipcamp.tasks.simulate import simulate_liquid
from mlipcamp.tasks.train import assemble_dataset, train_model, training_size
from mlipcamp.tasks.workspace import Workspace

# Heavy steps (sampling MD, QM batches, training, production MD) each hold one of a worker's
# slots (mlipcamp.flows.clusters.SLOTS), so Dask spreads them over free workers instead of queueing
# several behind one busy worker; a training on device cuda also holds one GPU, an MD run on
# device cuda 1/md.runs_per_gpu of one.
ONE_SLOT = {"resources": task_resources("cpu")}
# Lost labelling tasks are rerun one at a time; a level of theory that kills its worker this many
# times in a row when run alone is broken, and its other lost structures are not rerun.
LOST_IN_A_ROW_TO_STOP = 3


@flow(name="mlipcamp-campaign", flow_run_name="campaign {config.name}", log_prints=True)
def run_campaign(config: Campaign, ws: Workspace) -> str | State[str]:
    """Build, sample, label, train, evaluate, simulate, analyse, compare and report; return the report path."""
    logger = get_run_logger()
    sampling, md, training, execution = config.sampling, config.md, config.training, config.execution
    liquid_names = [liquid.name for liquid in config.liquids]
    gpu_jobs = execution.profile is not None and execution.profile.gpu_jobs is not None  # training and MD go there

    sampling_boxes, md_boxes = {}, {}
    for liquid in config.liquids:
        if sampling is not None:
            sampling_boxes[liquid.name] = build_liquid_box.with_options(
                task_run_name=f"build {liquid.name} box n={sampling.n_molecules} (sampling)",
                tags=tags(stage="build", liquid=liquid.name),
            ).submit(ws, liquid, sampling.n_molecules, "sampling", sampling.seed)
        n_md = liquid.md_molecules or md.n_molecules
        md_boxes[liquid.name] = build_liquid_box.with_options(
            task_run_name=f"build {liquid.name} box n={n_md} (md)", tags=tags(stage="build", liquid=liquid.name)
        ).submit(ws, liquid, n_md, "md", md.seed)
    # plain ids, not futures: a future shared by many tasks pins them all to the worker holding it
    sampling_box_ids = {name: future.result() for name, future in sampling_boxes.items()}
    md_box_ids = {name: future.result() for name, future in md_boxes.items()}
    with dask.annotate(**ONE_SLOT):
        sample_sets = [
            sample_structures.with_options(
                task_run_name=f"sample {liquid.name} {Path(sampling.potential).name} {temperature:g} K",
                tags=tags(stage="sample", liquid=liquid.name),
            ).submit(
                ws, sampling_box_ids[liquid.name], sampling, execution.sampling, temperature, sampling.seed + index
            )
            for liquid in (config.liquids if sampling is not None else [])
            for index, temperature in enumerate(sampling.temperatures)
        ]
    imports = {
        d.name: import_dataset.with_options(
            task_run_name=f"import {d.name} ({d.level_of_theory})", tags=tags(stage="import", level=d.level_name)
        ).submit(ws, d)
        for d in config.datasets
    }
    sample_set_ids = [future.result() for future in sample_sets]

    if sample_set_ids:
        kinds, labelling = config.computed_data_kinds, config.labelling
        work = structures_to_label.with_options(  # in this process: a look-up
            task_run_name=f"list structures to label ({', '.join(kinds)})", tags=tags(stage="label")
        )(ws, sample_set_ids, kinds, labelling.levels_of_theory, labelling.retries)
        logger.info("labels: %s; %d labelled already", _label_all(ws, config, work.todo), work.n_final)
    training_sets = sample_set_ids + [imports[d.name].result() for d in config.training_datasets]
    test_sets = [(d.name, imports[d.name].result(), d.level_name) for d in config.test_sets]

    trained_on = "+".join(liquid_names)
    evaluations, analyses, datasets, selections, trainings, simulations = [], [], {}, {}, [], []

    def subset_of(point: GridPoint) -> str:
        return f"n{point.dataset_size}-r{point.subset_replica}" if point.dataset_size is not None else "all"

    def select(point: GridPoint) -> None:
        """Submit the dataset selection of a model's subset (once per subset)."""
        level, kind, size, replica, subset = *point[:4], subset_of(point)
        if point[:4] not in datasets:
            selections[point[:4]] = f"{trained_on} {level} {kind} {subset}"
            datasets[point[:4]] = assemble_dataset.with_options(
                task_run_name=f"select {selections[point[:4]]}",
                tags=tags(stage="select", level=level, data_kind=kind, subset=subset),
            ).submit(
                ws,
                training_sets,
                level,
                kind,
                training.valid_fraction,
                training.test_fraction,
                size,
                replica,
                training.selection,
            )

    def train(
        point: GridPoint,
        hyper: MaceHyperparameters,
        name: str,
        priority: int,
        base: int | str | None = None,
        simulate: bool = True,
    ):
        """Submit a model's training and evaluation at this Dask priority, then its MD runs."""
        level, kind, *_, seed, purpose = point
        factors = {"level": level, "data_kind": kind, "subset": subset_of(point), "seed": seed, "purpose": purpose}
        with dask.annotate(priority=priority, resources=task_resources(execution.training.device, gpu_jobs=gpu_jobs)):
            model = train_model.with_options(
                task_run_name=f"train {purpose} {trained_on} {name}", tags=tags(stage="train", **factors)
            ).submit(
                ws,
                dataset_ids[point[:4]],
                seed,
                hyper,
                execution.training,
                name,
                purpose,
                base,
                config.e0s(level),
            )
            evaluations.append(
                evaluate_model.with_options(
                    task_run_name=f"evaluate {name}", tags=tags(stage="evaluate", **factors)
                ).submit(ws, model, execution.training, test_sets)
            )
        trainings.append(model)
        for liquid in config.liquids if simulate else []:
            run_name = f"{liquid.name}-{name}"
            with dask.annotate(
                resources=task_resources(execution.md.device, execution.md.runs_per_gpu, gpu_jobs=gpu_jobs)
            ):
                run = simulate_liquid.with_options(
                    task_run_name=f"simulate {liquid.name} {md.ensemble} {liquid.temperature:g} K {name}",
                    tags=tags(stage="simulate", liquid=liquid.name, **factors),
                ).submit(ws, model, liquid, md_box_ids[liquid.name], md, execution.md, run_name)
            simulations.append(run)
            analyses.append(
                analyse_run.with_options(
                    task_run_name=f"analyse {run_name}", tags=tags(stage="analyse", liquid=liquid.name, **factors)
                ).submit(ws, run, config.analysis, liquid.viscosity)
            )
        return model

    planned_models = config.planned_models()
    for planned in planned_models:
        select(planned.point)
    # plain ids, not futures, as for the boxes; a failed selection stays a future: its trainings fail with it
    selected = {subset: future.result(raise_on_failure=False) for subset, future in datasets.items()}
    dataset_ids = {subset: i if isinstance(i, int) else datasets[subset] for subset, i in selected.items()}
    sizes = {subset: _training_atoms(ws, i, selections[subset]) for subset, i in selected.items()}

    def priority(planned: PlannedModel) -> int:
        """Dask runs ready tasks by priority (MD and the rest: 0): every training before any MD run,
        the longest first (atoms × epochs). List scheduling by critical path (Kwok & Ahmad, ACM
        Comput. Surv. 31, 406 (1999)): a training and the MD waiting on it outlast any MD run alone,
        and a long training started last leaves the other workers idle at the end."""
        return 1 + sizes[planned.point[:4]] * planned.hyper.max_num_epochs

    bases = {}
    # the longest trainings submitted first, since a free worker takes a task as soon as it is
    # submitted; fine-tuning last, as it waits for its base model
    for planned in sorted(planned_models, key=lambda p: (p.point.purpose == "finetune", -priority(p))):
        point, base = planned.point, None
        if point.purpose == "finetune":
            own = bases.get((point.level_of_theory, point.data_kind))
            try:
                base = own.result() if own is not None else training.fine_tuning.base_model
            except Exception as exc:  # the base model's dataset step failed; it is reported below
                logger.error("not fine-tuning %s: no base model (%s)", planned.name, exc)
                continue
        model = train(point, planned.hyper, planned.name, priority(planned), base, simulate=planned.simulated)
        if point.purpose == "base":
            bases[point.level_of_theory, point.data_kind] = model
    downstream = evaluations + analyses
    _show_progress(
        config.name, {"training": trainings, "MD": simulations, "evaluation": evaluations, "analysis": analyses}
    )
    wait(downstream)
    sensitivity = compare_models.with_options(
        task_run_name=f"compare {config.name}", tags=tags(stage="compare")
    ).submit(ws, config.name, liquid_names, config.sensitivity)
    wait([sensitivity])
    report = (
        write_report.with_options(task_run_name=f"report {config.name}", tags=tags(stage="report"))
        .submit(ws, config.name, liquid_names)
        .result()
    )
    downstream.append(sensitivity)
    failed = [f for f in downstream if not f.state.is_completed()]
    if failed:
        steps = [*datasets.values(), *trainings, *simulations, *downstream]
        causes = [f.state.message for f in steps if f.state.is_failed()][:3]
        raise RuntimeError(
            f"{len(failed)} steps did not complete (report written to {report}); first failures: "
            + " | ".join(causes or ["see the Prefect logs"])
        )
    flags = Counter(f.state.name for f in [*trainings, *simulations] if f.state.name != "Completed")
    if flags:  # the flow run's state message in the UI: what completed without a usable result
        message = ", ".join(f"{count} {name}" for name, count in sorted(flags.items()))
        return Completed(data=report, message=f"{message} (see the report)")
    return report


def _training_atoms(ws: Workspace, dataset_id: object, name: str) -> int:
    """Atoms in a selected dataset's training split; 0 when its selection failed (reported at the end)."""
    if not isinstance(dataset_id, int):
        return 0
    return training_size.with_options(task_run_name=f"size of {name}", tags=tags(stage="select"))(ws, dataset_id)


def _show_progress(name: str, stages: dict[str, list[PrefectFuture]]) -> None:
    """A progress artifact per stage, advanced as its steps end (whatever their outcome)."""
    stages = {stage: futures for stage, futures in stages.items() if futures}
    artifacts = {
        stage: create_progress_artifact(progress=0.0, description=f"{name}: {stage} ({len(futures)} steps)")
        for stage, futures in stages.items()
    }
    stage_of = {id(future): stage for stage, futures in stages.items() for future in futures}
    done = dict.fromkeys(stages, 0)
    for future in as_completed([future for futures in stages.values() for future in futures]):
        stage = stage_of[id(future)]
        done[stage] += 1
        update_progress_artifact(artifact_id=artifacts[stage], progress=100.0 * done[stage] / len(stages[stage]))


def tags(**factors: object) -> set[str]:
    """Task-run tags ``name:value`` (``liquid:EC``, ``seed:2`` …): the Prefect UI filters runs by them."""
    return {f"{name}:{value}" for name, value in factors.items()}


def _label_all(ws: Workspace, config: Campaign, todo: dict[str, dict[int, int]]) -> dict[str, int]:
    """Fan labelling of the structures (level of theory → id → atom count) out in batches per level,
    balanced by cost over the worker slots; progress shown as a Prefect artifact.

    A batch whose task is lost (its worker died, e.g. a QM code crashed the process) is split
    into single structures. A lost single may only have shared its worker with the structure that
    killed it (Dask blames every task a dying worker holds), so lost singles are run again one at a
    time; a structure lost when it runs alone is recorded as a failed label. Once a level of theory
    has killed its worker on ``LOST_IN_A_ROW_TO_STOP`` structures in a row when run alone (a broken
    code, not a bad structure), its remaining lost singles are recorded failed without a rerun.
    Failures are recorded in the flow's own process: the bookkeeping must not depend on a worker
    that is being restarted after a crash.
    """
    labelling, execution = config.labelling, config.execution.labelling
    batches = [
        (level, batch)
        for level, sizes in todo.items()
        for batch in balanced_batches(
            {i: qm_cost(n) for i, n in sizes.items()}, execution.batch_size, config.execution.local_slots
        )
    ]
    total = {"ok": 0, "failed": 0, "reused": 0}
    planned = sum(len(sizes) for sizes in todo.values())
    if not planned:
        return total
    progress = create_progress_artifact(progress=0.0, description=f"{config.name}: labelling batches done")
    done = 0

    def tally(counts: dict[str, int], n_structures: int) -> None:
        nonlocal done
        for key, count in counts.items():
            total[key] += count
        done += n_structures
        update_progress_artifact(artifact_id=progress, progress=100.0 * done / planned)

    wave, suspects = batches, []
    while wave:
        futures = {_submit_label_batch(ws, labelling, execution, level, batch): (level, batch) for level, batch in wave}
        wave = []
        for future in as_completed(list(futures)):
            level, batch = futures[future]
            try:
                counts = future.result()
            except Exception:  # the task itself was lost, not a QM failure (those are recorded inside)
                if len(batch) > 1:
                    wave += [(level, [structure_id]) for structure_id in batch]
                else:
                    suspects.append((level, batch))
                continue
            tally(counts, len(batch))
    lost_in_a_row = dict.fromkeys(labelling.levels_of_theory, 0)
    for level, batch in suspects:
        if lost_in_a_row[level] >= LOST_IN_A_ROW_TO_STOP:
            reason = (
                f"labelling task lost with other structures; not run alone, as {level} killed its worker "
                f"on {LOST_IN_A_ROW_TO_STOP} structures in a row"
            )
            _record_lost(ws, batch[0], level, reason)
            tally({"failed": 1}, 1)
            continue
        try:
            counts = _submit_label_batch(ws, labelling, execution, level, batch).result()
            lost_in_a_row[level] = 0
        except Exception as exc:
            _record_lost(ws, batch[0], level, f"labelling task lost: {type(exc).__name__}: {exc}")
            counts = {"failed": 1}
            lost_in_a_row[level] += 1
        tally(counts, 1)
    return total


def _record_lost(ws: Workspace, structure_id: int, level: str, reason: str) -> None:
    record_label_failure.with_options(
        task_run_name=f"record lost label {level} structure {structure_id}", tags=tags(stage="label", level=level)
    )(ws, structure_id, level, reason)


def _submit_label_batch(
    ws: Workspace, labelling: Labelling, execution: LabellingExecution, level: str, batch: list[int]
) -> PrefectFuture:
    """Submit one labelling task holding one worker slot."""
    with dask.annotate(**ONE_SLOT):
        return label_batch.with_options(
            task_run_name=f"label {level} {len(batch)} structures from id {batch[0]}",
            tags=tags(stage="label", level=level),
        ).submit(ws, batch, level, execution.n_threads, labelling.retries)
