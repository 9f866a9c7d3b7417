"""The campaign file: a typed schema that rejects bad input before any compute.

Quantities carry units ("313 K", "1 fs", "1.32 g/cm^3"); fields hold them in
K, bar, fs, g/cm³ and Å. ``load_campaign`` turns every problem into one
``CampaignError`` whose message names the field.
"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from ase.data import atomic_numbers, chemical_symbols
from ase.units import _Nav
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from mlipcamp.hashing import hash_json
from mlipcamp.schema import (
    UNITS_REQUIRED,
    Density,
    Energy,
    Length,
    Pressure,
    StrictModel,
    Temperature,
    Time,
    Viscosity,
)
from mlipcamp.science.analysis.diffusion import MIN_BLOCK_FRAMES
from mlipcamp.science.analysis.settings import Analysis, Sensitivity
from mlipcamp.science.datasets import DATA_KINDS, DatasetSummary, read_labelled_extxyz, summarize_labelled
from mlipcamp.science.md.settings import MolecularDynamics
from mlipcamp.science.qm.labelling import check_level_supports
from mlipcamp.science.qm.levels import UnknownLevelError, declared_level, get_level
from mlipcamp.science.structures.packing import (
    InvalidSmilesError,
    atomic_numbers_of,
    check_neutral_closed_shell,
    molar_mass_g_mol,
)
from mlipcamp.science.training.settings import MaceHyperparameters
from mlipcamp.settings.execution import Execution

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
DataKind = Literal["cluster", "periodic"]
SizeList = Annotated[list[Annotated[int, Field(gt=0)] | None], Field(min_length=1)]


class CampaignError(ValueError):
    """A campaign file that cannot be run; the message names the file and the field."""


class Component(StrictModel):
    smiles: str
    ratio: float = Field(1.0, gt=0, description="mole ratio of this species in the liquid")

    @field_validator("smiles")
    @classmethod
    def _parses(cls, smiles: str) -> str:
        try:
            check_neutral_closed_shell(smiles)
        except InvalidSmilesError as exc:
            raise ValueError(str(exc)) from None
        return smiles


class Liquid(StrictModel):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    components: Annotated[list[Component], Field(min_length=1)]
    temperature: Temperature
    pressure: Pressure = 1.0
    density: Density = Field(description="density at which the boxes are packed")
    viscosity: Viscosity | None = Field(None, description="shear viscosity, mPa·s: adds the Yeh–Hummer corrected D")
    md_molecules: int | None = Field(
        None, ge=2, description="molecules in this liquid's MD box (default md.n_molecules), e.g. for ~1000 atoms"
    )
    md_density: Density | None = Field(
        None, description="density at which the MD box is packed (default: density), e.g. near where the models settle"
    )

    def counts(self, n_molecules: int) -> list[tuple[str, int]]:
        """(smiles, molecules) for a box of ``n_molecules`` following the mole ratios."""
        total = sum(c.ratio for c in self.components)
        counts = [round(n_molecules * c.ratio / total) for c in self.components]
        if any(n == 0 for n in counts):
            raise CampaignError(f"liquid {self.name}: {n_molecules} molecules are too few for its mole ratios")
        return [(c.smiles, n) for c, n in zip(self.components, counts, strict=True)]

    @property
    def elements(self) -> frozenset[int]:
        """Atomic numbers of every species of the liquid."""
        return frozenset().union(*(atomic_numbers_of(c.smiles) for c in self.components))

    def packing_density(self, purpose: Literal["sampling", "md"]) -> float:
        """Density (g/cm³) at which the box of ``purpose`` is packed."""
        return self.md_density if purpose == "md" and self.md_density is not None else self.density

    def box_edge_ang(self, n_molecules: int) -> float:
        """Edge (Å) of the cubic box of ``n_molecules`` at the packing density."""
        mass_g = sum(molar_mass_g_mol(smiles) * n for smiles, n in self.counts(n_molecules)) / _Nav
        return (mass_g / self.density * 1e24) ** (1 / 3)


def _known_level(name: str) -> str:
    try:
        return get_level(name).name
    except UnknownLevelError as exc:
        raise ValueError(str(exc)) from None


class Sampling(StrictModel):
    potential: str = Field("gfn2-xtb", description="a level of theory, or a MACE model file (.model)")
    n_molecules: int = Field(8, ge=2, description="molecules in the sampling box (a liquid: at least 2)")
    temperatures: Annotated[list[Temperature], Field(min_length=1, description="one sampling MD per temperature")]
    timestep: Time = 1.0
    n_steps: int = Field(gt=0)
    snapshot_interval: int = Field(gt=0, description="MD steps between snapshots")
    friction: float = Field(0.01, gt=0, description="Langevin friction, 1/fs")
    clusters_per_snapshot: int = Field(10, ge=0)
    cluster_size: tuple[int, int] = Field((1, 4), description="[min, max] molecules per cluster")
    cluster_radius: Length | None = Field(
        None, description="cut clusters by COM radius instead (capped by cluster_size)"
    )
    periodic_snapshots: bool = True
    volume_factors: Annotated[list[Annotated[float, Field(ge=0.5, le=2.0)]], Field(min_length=1)] | None = Field(
        None,
        description="each periodic snapshot also at these volumes relative to it, molecules moved rigidly "
        "(teaches the equation of state); default [1]",
    )
    seed: int = 0

    @field_validator("potential")
    @classmethod
    def _potential(cls, potential: str) -> str:
        if potential.endswith(".model"):
            if not Path(potential).is_file():
                raise ValueError(f"MACE model file {potential} not found")
            return str(Path(potential).resolve())
        return _known_level(potential)

    @model_validator(mode="after")
    def _consistent(self) -> Sampling:
        low, high = self.cluster_size
        if not 1 <= low <= high:
            raise ValueError(f"cluster_size must be [min, max] with 1 <= min <= max, got {list(self.cluster_size)}")
        if high > self.n_molecules:
            raise ValueError(f"cluster_size max {high} exceeds the sampling box's n_molecules {self.n_molecules}")
        if self.snapshot_interval > self.n_steps:
            raise ValueError("snapshot_interval is longer than n_steps: no snapshot would be taken")
        return self


class Labelling(StrictModel):
    levels_of_theory: Annotated[list[str], Field(min_length=1)] = ["gfn2-xtb"]
    retries: int = Field(1, ge=0, description="extra attempts for a failed label")

    @field_validator("levels_of_theory")
    @classmethod
    def _levels(cls, names: list[str]) -> list[str]:
        return [_known_level(name) for name in names]


class ImportedDataset(StrictModel):
    """A user's labelled extxyz file, stored under a declared level of theory."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    path: Path
    level_of_theory: str = Field(description="the level that labelled it, e.g. b97-d3bj/def2-tzvp")
    energy_key: str = "REF_energy"
    forces_key: str = "REF_forces"
    stress_key: str | None = "REF_stress"
    energy_unit: Literal["eV", "Hartree", "kcal/mol", "kJ/mol"] = "eV"
    length_unit: Literal["Å", "Bohr"] = "Å"
    data_kind: DataKind | None = Field(
        None, description="read every frame as this kind (e.g. clusters stored in a periodic box); default: its pbc"
    )
    use: Literal["train", "test"] = Field("train", description="train on it, or evaluate every model on it")
    _summary: DatasetSummary = PrivateAttr()

    @field_validator("path", mode="before")
    @classmethod
    def _expanded(cls, path: Any) -> Any:
        """``~`` and environment variables expanded (``$STUDY_A_DATA/ec.xyz``); an unset variable is an error."""
        if not isinstance(path, str | Path):
            return path
        expanded = os.path.expandvars(os.path.expanduser(str(path)))
        if unset := re.findall(r"\$\{?(\w+)", expanded):
            raise ValueError(f"environment variable {unset[0]} in {path} is not set")
        return expanded

    @field_validator("path")
    @classmethod
    def _exists(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError(f"dataset file {path} not found")
        return path.resolve()

    @model_validator(mode="after")
    def _readable(self) -> ImportedDataset:
        stat = self.path.stat()
        try:
            self._summary = _summary_of(self.path, (stat.st_mtime_ns, stat.st_size), tuple(self.reading.items()))
        except ValueError as exc:  # DatasetFormatError names the file, the frame and the problem
            raise ValueError(str(exc)) from None
        if not self._summary.data_kinds:
            raise ValueError(f"{self.path.name} holds only isolated atoms: nothing to train or test on")
        return self

    @property
    def reading(self) -> dict[str, str | None]:
        """How the file is read: the keyword arguments of ``read_labelled_extxyz``."""
        fields = ("energy_key", "forces_key", "stress_key", "energy_unit", "length_unit", "data_kind")
        return {name: getattr(self, name) for name in fields}

    @property
    def summary(self) -> DatasetSummary:
        """Frames per kind, elements per data kind and isolated-atom energies of the file."""
        return self._summary

    @property
    def level_name(self) -> str:
        """Name under which its labels are stored (see mlipcamp.science.qm.levels.declared_level)."""
        return declared_level(self.level_of_theory).name


@lru_cache(maxsize=32)
def _summary_of(path: Path, stat: tuple[int, int], reading: tuple[tuple[str, str | None], ...]) -> DatasetSummary:
    """The summary of a labelled file, read once per content (``stat``: mtime and size) and reading."""
    with warnings.catch_warnings():  # a dropped cluster stress is reported when the file is imported
        warnings.simplefilter("ignore")
        return summarize_labelled(path, read_labelled_extxyz(path, **dict(reading)))


Purpose = Literal["grid", "base", "finetune", "scan"]


class GridPoint(NamedTuple):
    """The factor values of one model."""

    level_of_theory: str
    data_kind: str
    dataset_size: int | None  # None: every available training structure
    subset_replica: int
    seed: int
    purpose: Purpose = "grid"  # grid: trained from scratch; base/finetune: fine-tuning study; scan: hyperparameters


class PlannedModel(NamedTuple):
    """One model the campaign trains: its factor values, hyperparameters, name, and whether it is
    simulated in every liquid (scan models are only evaluated)."""

    point: GridPoint
    hyper: MaceHyperparameters
    name: str
    simulated: bool


class FineTuning(StrictModel):
    """Fine-tune a base model on small training subsets (study B)."""

    base_model: str = Field(
        "own",
        description="'own': train a base model here on every training structure of the "
        "level and kind; or a local MACE .model file",
    )
    base_mace: MaceHyperparameters | None = Field(
        None, description="hyperparameters of the own base model (default: training.mace)"
    )
    dataset_sizes: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)]
    max_num_epochs: int = Field(20, ge=1)
    lr: float = Field(0.001, gt=0)

    @field_validator("base_model")
    @classmethod
    def _base_model(cls, base_model: str) -> str:
        if base_model == "own":
            return base_model
        if not base_model.endswith(".model") or not Path(base_model).is_file():
            raise ValueError(f"base_model must be 'own' or an existing MACE .model file, got {base_model!r}")
        return str(Path(base_model).resolve())


class HyperparameterScan(StrictModel):
    """MACE settings to compare on one dataset: the product of the listed values (study B's scan)."""

    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        description="MACE hyperparameter -> values, e.g. {num_channels: [32, 64], max_L: [0, 1, 2]}"
    )
    dataset_size: int | None = Field(None, gt=0, description="training structures of the scan dataset; null = all")

    @field_validator("grid")
    @classmethod
    def _known_settings(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        unknown = sorted(set(grid) - set(MaceHyperparameters.model_fields))
        if unknown:
            raise ValueError(
                f"unknown MACE hyperparameters {unknown}; known: {sorted(MaceHyperparameters.model_fields)}"
            )
        if not grid:
            raise ValueError("grid names no hyperparameter")
        return grid

    def settings(self, base: MaceHyperparameters) -> list[MaceHyperparameters]:
        """``base`` with every combination of the grid's values (validated like the campaign's own)."""
        names = list(self.grid)
        combos = itertools.product(*(self.grid[name] for name in names))
        return [
            MaceHyperparameters.model_validate(base.model_dump() | dict(zip(names, combo, strict=True)))
            for combo in combos
        ]


class Training(StrictModel):
    data_kinds: Annotated[list[DataKind], Field(min_length=1)] | None = Field(
        None, description="kinds of data to train on; default: every kind the campaign samples or imports"
    )
    dataset_sizes: SizeList | dict[DataKind, SizeList] = Field(
        [None],
        description="training-set sizes (a learning curve); null = all available (one subset); "
        "or per data kind, e.g. {cluster: [8016, 42824], periodic: [null]}",
    )
    subset_replicas: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = Field(
        [0], description="random selections per size, reproducible from their number"
    )
    seeds: Annotated[list[int], Field(min_length=1)]
    selection: Literal["random", "fps"] = Field(
        "random", description="subset selection: random, or farthest-point sampling of structure fingerprints"
    )
    valid_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(
        0.1, ge=0, lt=0.5, description="held out for testing; in a campaign file default 0 when a test set is imported"
    )
    e0s: Literal["auto", "isolated_atoms", "least_squares"] | dict[str, Energy] = Field(
        "auto",
        description="per-element reference energies: isolated atoms of the data (mace-torch's IsolatedAtom "
        "frames), least squares over the training set, or given values {H: -13.6 eV, ...} (one level of "
        "theory); auto: isolated atoms where the data has them for every element, else least squares",
    )
    mace: MaceHyperparameters = MaceHyperparameters()

    fine_tuning: FineTuning | None = None
    hyperparameter_scan: HyperparameterScan | None = None

    @field_validator("e0s")
    @classmethod
    def _elements(cls, e0s: str | dict[str, float]) -> str | dict[str, float]:
        unknown = [symbol for symbol in e0s if symbol not in atomic_numbers] if isinstance(e0s, dict) else []
        if unknown or e0s == {}:
            raise ValueError(f"given E0s must be keyed by element symbols, got {unknown or 'none'}")
        return e0s

    @model_validator(mode="after")
    def _scan_settings_valid(self) -> Training:
        if self.hyperparameter_scan is not None:
            try:
                self.hyperparameter_scan.settings(self.mace)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"hyperparameter_scan.grid: {problems}") from None
        return self

    def sizes(self, kind: str) -> list[int | None]:
        """Training-set sizes of the models trained on one data kind."""
        return self.dataset_sizes[kind] if isinstance(self.dataset_sizes, dict) else self.dataset_sizes

    @property
    def fine_tuning_settings(self) -> MaceHyperparameters:
        """Hyperparameters of fine-tuning runs: training.mace with the fine-tuning epochs and learning rate."""
        ft = self.fine_tuning
        return self.mace.model_copy(update={"max_num_epochs": ft.max_num_epochs, "lr": ft.lr}) if ft else self.mace

    @property
    def base_settings(self) -> MaceHyperparameters:
        """Hyperparameters of the own base model."""
        return (self.fine_tuning.base_mace if self.fine_tuning else None) or self.mace


def _check_unique(what: str, names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be unique, got {names}")


class Campaign(StrictModel):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in the work directory")
    store_dir: Path | None = Field(
        None,
        description="the file store of the database, shared by every campaign that uses it; default: the one "
        "the database records, for a new database store/ in the work directory",
    )
    liquids: Annotated[list[Liquid], Field(min_length=1)]
    sampling: Sampling | None = Field(None, description="structures to label; optional when datasets are imported")
    labelling: Labelling | None = Field(None, description="how sampled structures are labelled (default gfn2-xtb)")
    datasets: list[ImportedDataset] = Field([], description="labelled extxyz files to import and train on")
    training: Training
    md: MolecularDynamics
    analysis: Analysis = Analysis()
    sensitivity: Sensitivity = Sensitivity()
    execution: Execution = Execution()

    @field_validator("store_dir")
    @classmethod
    def _absolute_store(cls, path: Path | None) -> Path | None:
        return None if path is None else Path(os.path.expandvars(os.path.expanduser(str(path)))).resolve()

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_data(cls, data: Any) -> Any:
        """Sampled structures are labelled with GFN2-xTB unless ``labelling`` says otherwise; no
        training structure is held out for testing when a test set is imported, unless asked."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("sampling") is not None and data.get("labelling") is None:
            data["labelling"] = {}
        training, datasets = data.get("training"), data.get("datasets")
        if isinstance(training, dict) and "test_fraction" not in training and isinstance(datasets, list):
            tested = any(isinstance(d, dict) and d.get("use") == "test" for d in datasets)
            data["training"] = training | {"test_fraction": 0.0 if tested else 0.1}
        return data

    @model_validator(mode="after")
    def _something_to_train_on(self) -> Campaign:
        if self.sampling is None and self.labelling is not None:
            raise ValueError("labelling: nothing to label without sampling")
        if self.sampling is None and not any(d.use == "train" for d in self.datasets):
            raise ValueError("sampling: required unless datasets are imported for training (datasets, use: train)")
        pairs = self.training_pairs()
        for kind in self.training.data_kinds or []:
            if kind not in {k for _, k in pairs}:
                raise ValueError(
                    f"training.data_kinds: no {kind} data: neither sampled (sampling.clusters_per_snapshot, "
                    "sampling.periodic_snapshots) nor in an imported training dataset"
                )
        if not pairs:
            raise ValueError("training.data_kinds: none of them is sampled or imported")
        sizes = self.training.dataset_sizes
        if isinstance(sizes, dict) and (missing := sorted({k for _, k in pairs} - set(sizes))):
            raise ValueError(f"training.dataset_sizes: no sizes for the {', '.join(missing)} data")
        return self

    @model_validator(mode="after")
    def _data_covers_liquids(self) -> Campaign:
        """Every model simulates every liquid: its training data must hold every element of each."""
        for level, kind in self.training_pairs():
            present = self._elements(level, kind)
            for liquid in self.liquids:
                if missing := liquid.elements - present:
                    symbols = ", ".join(chemical_symbols[z] for z in sorted(missing))
                    raise ValueError(
                        f"datasets: the {kind} data at {level} has no {symbols}, which liquid {liquid.name} holds: "
                        "a model trained on it could not simulate that liquid"
                    )
        return self

    @model_validator(mode="after")
    def _e0s_available(self) -> Campaign:
        e0s, levels = self.training.e0s, self.training_levels
        if isinstance(e0s, dict) and len(levels) > 1:
            raise ValueError(f"training.e0s: given values hold for one level of theory; this campaign trains {levels}")
        for level in levels if e0s == "isolated_atoms" or isinstance(e0s, dict) else []:
            given = self._isolated_atoms(level) if e0s == "isolated_atoms" else {atomic_numbers[s] for s in e0s}
            if missing := self._elements(level) - set(given):
                source = (
                    f"no isolated-atom frames (config_type=IsolatedAtom) at {level}"
                    if e0s == "isolated_atoms"
                    else "no value"
                )
                raise ValueError(
                    f"training.e0s: {source} for {', '.join(chemical_symbols[z] for z in sorted(missing))}"
                )
        return self

    @model_validator(mode="after")
    def _unique_liquids(self) -> Campaign:
        _check_unique("liquid", [liquid.name for liquid in self.liquids])
        return self

    @model_validator(mode="after")
    def _levels_can_label_periodic(self) -> Campaign:
        if "periodic" in self.computed_data_kinds:
            for name in self.labelling.levels_of_theory:
                try:
                    check_level_supports(get_level(name), periodic=True)
                except ValueError as exc:
                    raise ValueError(f"labelling.levels_of_theory with training.data_kinds periodic: {exc}") from None
        return self

    @model_validator(mode="after")
    def _cluster_radius_fits(self) -> Campaign:
        radius = self.sampling.cluster_radius if self.sampling is not None else None
        for liquid in self.liquids if radius is not None else []:
            edge = liquid.box_edge_ang(self.sampling.n_molecules)
            if radius > edge / 2:
                raise ValueError(
                    f"sampling.cluster_radius {radius:g} Å exceeds half the {edge:.2f} Å sampling box of {liquid.name}; "
                    "sample more molecules or cut by count"
                )
        return self

    @model_validator(mode="after")
    def _enough_frames(self) -> Campaign:
        md, interval = self.md, self.md.trajectory_interval
        first = -(-md.equilibration_steps // interval)  # index of the first frame at or after equilibration
        frames = (md.equilibration_steps + md.n_steps) // interval - first + 1
        needed = MIN_BLOCK_FRAMES * self.analysis.diffusion_blocks
        if frames < needed:
            raise ValueError(
                f"md gives {frames} production trajectory frames (steps from equilibration_steps on, every "
                f"trajectory_interval) but diffusion with analysis.diffusion_blocks={self.analysis.diffusion_blocks} "
                f"needs at least {needed}"
            )
        return self

    @model_validator(mode="after")
    def _unique_datasets(self) -> Campaign:
        _check_unique("dataset", [dataset.name for dataset in self.datasets])
        return self

    @property
    def computed_levels(self) -> list[str]:
        """Levels the campaign labels its own sampled structures at."""
        return list(self.labelling.levels_of_theory) if self.labelling is not None else []

    @property
    def computed_data_kinds(self) -> list[str]:
        """Kinds of sampled structures that are labelled and trained on."""
        if self.sampling is None:
            return []
        made = {"cluster": self.sampling.clusters_per_snapshot > 0, "periodic": self.sampling.periodic_snapshots}
        wanted = self.training.data_kinds
        return [kind for kind in DATA_KINDS if made[kind] and (wanted is None or kind in wanted)]

    @property
    def training_datasets(self) -> list[ImportedDataset]:
        """Imported datasets models are trained on."""
        return [dataset for dataset in self.datasets if dataset.use == "train"]

    def training_pairs(self) -> list[tuple[str, str]]:
        """(level, data kind) of every training pool that has data: computed levels × sampled kinds,
        then the kinds each imported training dataset holds, restricted to ``training.data_kinds``."""
        wanted = self.training.data_kinds
        pairs = [(level, kind) for level in self.computed_levels for kind in self.computed_data_kinds]
        for dataset in self.training_datasets:
            for kind in dataset.summary.data_kinds:
                if (dataset.level_name, kind) not in pairs and (wanted is None or kind in wanted):
                    pairs.append((dataset.level_name, kind))
        levels = list(dict.fromkeys(level for level, _ in pairs))
        return sorted(pairs, key=lambda pair: (levels.index(pair[0]), DATA_KINDS.index(pair[1])))

    @property
    def training_levels(self) -> list[str]:
        """Level names models are trained per: computed levels, then declared levels of imported training sets."""
        return list(dict.fromkeys(level for level, _ in self.training_pairs()))

    def _elements(self, level: str, kind: str | None = None) -> frozenset[int]:
        """Elements of the training data at a level (of one kind, if given)."""
        elements: set[int] = set()
        if level in self.computed_levels and (kind is None or kind in self.computed_data_kinds):
            elements.update(*(liquid.elements for liquid in self.liquids))
        for dataset in self.training_datasets:
            if dataset.level_name == level:
                for data_kind, zs in dataset.summary.elements.items():
                    elements.update(zs if kind in (None, data_kind) else ())
        return frozenset(elements)

    def _isolated_atoms(self, level: str) -> dict[int, float]:
        """Isolated-atom energies (eV) the imported datasets give at a level."""
        energies: dict[int, float] = {}
        for dataset in self.datasets:
            if dataset.level_name == level:
                energies |= dataset.summary.isolated_atom_energies_eV
        return energies

    def e0s(self, level: str) -> dict[int, float] | None:
        """Per-element reference energies (eV) of the models trained at ``level``, or None: fit them by
        least squares to the training set (``training.e0s``)."""
        choice, needed = self.training.e0s, self._elements(level)
        if isinstance(choice, dict):
            return {atomic_numbers[symbol]: energy for symbol, energy in sorted(choice.items())}
        atoms = self._isolated_atoms(level)
        if choice == "least_squares" or not needed <= set(atoms):
            return None
        return {z: atoms[z] for z in sorted(needed)}

    @property
    def test_sets(self) -> list[ImportedDataset]:
        """Imported datasets every model is evaluated on."""
        return [dataset for dataset in self.datasets if dataset.use == "test"]

    def training_grid(self) -> list[GridPoint]:
        """Every model trained from scratch: (level, data kind) pools × dataset sizes × subset replicas × seeds
        (one subset of a full dataset, size None)."""
        t = self.training
        return [
            GridPoint(level, kind, size, replica if size is not None else 0, seed)
            for level, kind in self.training_pairs()
            for size in t.sizes(kind)
            for replica in (t.subset_replicas if size is not None else [0])
            for seed in t.seeds
        ]

    def base_models(self) -> list[GridPoint]:
        """The own base models of fine-tuning, one per level and data kind, on every training structure."""
        t = self.training
        if t.fine_tuning is None or t.fine_tuning.base_model != "own":
            return []
        return [GridPoint(level, kind, None, 0, t.seeds[0], "base") for level, kind in self.training_pairs()]

    def fine_tuning_grid(self) -> list[GridPoint]:
        """Every fine-tuned model: (level, data kind) pools × fine-tuning sizes × subset replicas × seeds."""
        t = self.training
        if t.fine_tuning is None:
            return []
        return [
            GridPoint(level, kind, size, replica, seed, "finetune")
            for level, kind in self.training_pairs()
            for size in t.fine_tuning.dataset_sizes
            for replica in t.subset_replicas
            for seed in t.seeds
        ]

    def scan_grid(self) -> list[tuple[GridPoint, MaceHyperparameters]]:
        """The hyperparameter scan: each setting on one dataset (first level and kind, first replica and seed)."""
        t = self.training
        if t.hyperparameter_scan is None:
            return []
        size = t.hyperparameter_scan.dataset_size
        level, kind = self.training_pairs()[0]
        point = GridPoint(level, kind, size, t.subset_replicas[0] if size else 0, t.seeds[0], "scan")
        return [(point, settings) for settings in t.hyperparameter_scan.settings(t.mace)]

    def planned_models(self) -> list[PlannedModel]:
        """Every model in training order: base models (fine-tuning needs them first), the scratch
        grid, the hyperparameter scan, the fine-tuned models."""
        t = self.training
        scanned = t.hyperparameter_scan.grid if t.hyperparameter_scan else None
        return [
            *(PlannedModel(p, t.base_settings, model_name(p), True) for p in self.base_models()),
            *(PlannedModel(p, t.mace, model_name(p), True) for p in self.training_grid()),
            *(PlannedModel(p, hyper, model_name(p, hyper, scanned), False) for p, hyper in self.scan_grid()),
            *(PlannedModel(p, t.fine_tuning_settings, model_name(p), True) for p in self.fine_tuning_grid()),
        ]

    @property
    def n_models(self) -> int:
        """Models the campaign trains: scratch grid, base models, fine-tuned models and the scan."""
        return len(self.planned_models())

    @property
    def config_hash(self) -> str:
        return hash_json(self.model_dump(mode="json"))


def model_name(point: GridPoint, hyper: MaceHyperparameters | None = None, scanned: dict | None = None) -> str:
    """A model's name from its factor values, e.g. ``gfn2-xtb-cluster-n100-r0-seed1`` or
    ``gfn2-xtb-cluster-finetune-n20-r0-seed1``; scan models add the scanned settings."""
    level, kind, size, replica, seed, purpose = point
    parts = [level, kind] + ([] if purpose == "grid" else [purpose])
    parts += [f"n{size}-r{replica}"] if size is not None else []
    parts += [f"{name}{getattr(hyper, name)}" for name in scanned or {}]
    return "-".join(parts + ([] if purpose == "base" else [f"seed{seed}"]))


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file; raise CampaignError naming the file and field."""
    path = Path(path)
    if not path.is_file():
        raise CampaignError(f"{path}: campaign file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CampaignError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CampaignError(f"{path}: expected a mapping of campaign settings at the top level")
    try:
        return Campaign.model_validate(data, context={UNITS_REQUIRED: True})
    except ValidationError as exc:
        raise CampaignError(f"{path}: " + "; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: dict) -> str:
    location = ""
    for part in error["loc"]:
        location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return f"{location or '(top level)'}: {message}"
