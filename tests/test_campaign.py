"""The campaign schema: units, validation messages naming the field, the demo file."""

from pathlib import Path

import pytest
import yaml

from mlipcamp.schema import to_unit
from mlipcamp.science.md.settings import MolecularDynamics
from mlipcamp.settings.campaign import CampaignError, load_campaign

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"


def write_variant(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    edit(data)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_demo_loads_in_canonical_units():
    campaign = load_campaign(DEMO)
    liquid = campaign.liquids[0]
    assert liquid.temperature == 313.0 and liquid.pressure == 1.0 and liquid.density == 1.0
    assert (liquid.packing_density("sampling"), liquid.packing_density("md")) == (1.0, 1.15)
    assert liquid.model_copy(update={"md_density": None}).packing_density("md") == 1.0  # the default: density
    assert campaign.training.mace.r_max == 5.0
    assert campaign.md.timestep == 1.0 and campaign.md.barostat_damping == 500.0
    assert campaign.labelling.levels_of_theory == ["gfn2-xtb"]


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("0.5 ps", "fs", 500.0),
        ("1320 kg/m^3", "g/cm^3", 1.32),
        ("1.32 g/cm3", "g/cm^3", 1.32),
        ("40 degC", "K", 313.15),
        ("1 atm", "bar", 1.01325),
        ("0.6 nm", "angstrom", 6.0),
    ],
)
def test_units_convert(text, unit, expected):
    assert to_unit(text, unit) == pytest.approx(expected)


def test_python_takes_bare_numbers_in_the_fields_unit_files_do_not(tmp_path):
    assert MolecularDynamics(n_molecules=2, n_steps=1, timestep=0.5).timestep == 0.5
    assert MolecularDynamics(n_molecules=2, n_steps=1, timestep="0.5 ps").timestep == 500.0
    with pytest.raises(CampaignError, match=r"md\.timestep: a unit is required"):
        load_campaign(write_variant(tmp_path, lambda d: d["md"].update(timestep=1)))
    with pytest.raises(ValueError, match="must be finite"):
        MolecularDynamics(n_molecules=2, n_steps=1, timestep=float("inf"))


def test_quantities_are_stored_exactly():
    """Keys hash the settings' JSON form: two timesteps must never share one."""
    close = [MolecularDynamics(n_molecules=2, n_steps=1, timestep=dt) for dt in (5.0, 5.000000001, 1234567.0)]
    dumps = [md.model_dump(mode="json")["timestep"] for md in close]
    assert dumps == ["5.0 fs", "5.000000001 fs", "1234567.0 fs"]
    assert [MolecularDynamics.model_validate(md.model_dump(mode="json")) for md in close] == close


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (lambda d: d["liquids"][0].update(colour="blue"), "liquids[0].colour", "unknown key"),
        (lambda d: d["liquids"][0].update(temperature="313 bar"), "liquids[0].temperature", "not convertible to K"),
        (lambda d: d["liquids"][0].update(temperature=313), "liquids[0].temperature", "a unit is required"),
        (lambda d: d["md"].update(timestep="-1 fs"), "md.timestep", "must be positive"),
        (lambda d: d["md"].update(n_steps="many"), "md.n_steps", "valid integer"),
        (
            lambda d: d["liquids"][0]["components"][0].update(smiles="C1CC("),
            "liquids[0].components[0].smiles",
            "does not parse",
        ),
        (
            lambda d: d["liquids"][0]["components"][0].update(smiles="CC(=O)[O-]"),
            "liquids[0].components[0].smiles",
            "net charge of -1 e",
        ),
        (
            lambda d: d["liquids"][0]["components"][0].update(smiles="[CH3]"),
            "liquids[0].components[0].smiles",
            "is a radical (1 unpaired electron)",
        ),
        (lambda d: d["sampling"].update(n_molecules=1), "sampling.n_molecules", "greater than or equal to 2"),
        (lambda d: d["liquids"][0].update(md_density="0 g/cm^3"), "liquids[0].md_density", "must be positive"),
        (
            lambda d: d["labelling"].update(levels_of_theory=["b3lyp-d9"]),
            "labelling.levels_of_theory",
            "known: gfn2-xtb",
        ),
        (lambda d: d["sampling"].update(cluster_size=[1, 20]), "sampling", "exceeds"),
        (lambda d: d.pop("md"), "md", "Field required"),
        (lambda d: d["sampling"].update(cluster_radius="5 Å"), "(top level)", "exceeds half the 9.57 Å sampling box"),
        (lambda d: d["sampling"].update(potential="missing.model"), "sampling.potential", "not found"),
        (lambda d: d["liquids"].append(dict(d["liquids"][0])), "(top level)", "liquid names must be unique"),
        (lambda d: d.update(sensitivity={"n_bootstrap": 5}), "sensitivity.n_bootstrap", "greater than or equal to 10"),
        (
            lambda d: d.update(execution={"md": {"runs_per_gpu": 0}}),
            "execution.md.runs_per_gpu",
            "greater than or equal to 1",
        ),
        (
            lambda d: d["md"].update(equilibration_steps=900, n_steps=100),
            "(top level)",
            "md gives 6 production trajectory frames",
        ),
        (
            lambda d: (
                d["labelling"].update(levels_of_theory=["pbe-d3bj/def2-svp"]),
                d["training"].update(data_kinds=["cluster", "periodic"]),
            ),
            "(top level)",
            "pyscf backend cannot label periodic cells",
        ),
    ],
)
def test_bad_input_names_the_field(tmp_path, edit, field, words):
    with pytest.raises(CampaignError) as info:
        load_campaign(write_variant(tmp_path, edit))
    message = str(info.value)
    assert f"{field}:" in message and words in message, message
    assert "\n" not in message


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(CampaignError, match="not found"):
        load_campaign(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(CampaignError, match="not valid YAML"):
        load_campaign(bad)


def test_mole_ratio_counts():
    campaign = load_campaign(DEMO)
    liquid = campaign.liquids[0].model_copy(
        update={
            "components": [
                campaign.liquids[0].components[0],
                campaign.liquids[0].components[0].model_copy(update={"ratio": 3.0}),
            ]
        }
    )
    assert [n for _, n in liquid.counts(16)] == [4, 12]


def test_deployment_entrypoints_and_parameters_exist(monkeypatch):
    from prefect import Flow
    from prefect.flows import load_flow_from_entrypoint

    repo = Path(__file__).parents[1]
    monkeypatch.chdir(repo)  # deployments run from the repository root
    spec = yaml.safe_load((repo / "deployments" / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
        assert isinstance(flow, Flow)
        assert set(deployment["parameters"]) <= set(flow.parameters.properties)
        config = repo / deployment["parameters"]["config_path"]
        if all(schedule.get("active", True) for schedule in deployment["schedules"]):
            load_campaign(config)  # study A's, paused, needs the user's data files (tests/test_study_configs.py)
        assert config.exists()
    deployed = {d["parameters"]["config_path"] for d in spec["deployments"]}
    assert deployed == {f"configs/{p.name}" for p in (repo / "configs").glob("*.yaml")}  # one per shipped campaign
