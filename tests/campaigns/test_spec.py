"""Malformed specs give a message naming the file, the key and the allowed values."""

import pytest

from alkali_layers.campaigns.spec import SpecError, load_spec
from alkali_layers.cli import main

from .conftest import SMALL, write_spec

GOOD = SMALL.format(name="ok", metals='["Na", "K"]', layers="[1, 2]", max_strain=0.02)


def test_good_spec_expands_its_grid(tmp_path):
    spec = load_spec(write_spec(tmp_path / "ok", text=GOOD))
    assert spec.name == "ok" and spec.analysis == "bilayer"
    group = spec.models[0]
    labels = [group.label(p) for p in group.points()]
    assert labels == ["Na-1L-AA", "Na-2L-AA", "K-1L-AA", "K-2L-AA"]
    assert spec.relax.fmax_eV_A == 0.05 and spec.engine.model == "7net-0"
    assert load_spec(tmp_path / "ok").path == spec.path  # the directory works too


@pytest.mark.parametrize(
    "old, new, key, allowed",
    [
        (
            'analysis = "bilayer"',
            'analysis = "bilayer"\ncolour = 1',
            "top level",
            "allowed: name, title",
        ),
        (
            'builder = "bilayer_graphene"',
            'builder = "nanotube"',
            "models[0].builder",
            "allowed: adatom_site, bilayer_graphene, bulk_metal",
        ),
        (
            'stacking = ["AA"]',
            'stacking = ["AA"]\ntwist = [0, 1]',
            "models[0].grid.twist",
            "allowed: metal, n_layers, stacking",
        ),
        (
            "n_layers = [1, 2]",
            "n_layers = 2",
            "models[0].grid.n_layers",
            "non-empty list",
        ),
        (
            'tasks = ["formation_energy"]',
            'tasks = ["no_such_task"]',
            "models[0].tasks",
            "relax, single_point, ",
        ),
        ('name = "mlip"', 'name = "vasp"', "engine.name", "allowed: mlip"),
        (
            'name = "mlip"',
            'name = "mlip"\ncutoff = 400',
            "engine",
            "allowed: model, dispersion",
        ),
        (
            "max_steps = 200",
            'max_steps = 200\noptimiser = "BFGS"',
            "relax",
            "allowed: fmax_eV_A",
        ),
        ("fmax_eV_A = 0.05", "fmax_eV_A = -1.0", "relax", "positive"),
        (
            'analysis = "bilayer"',
            'analysis = "voltage"',
            "analysis",
            "allowed: barrier_diagnosis, barriers, bilayer, charges",
        ),
        (
            'analysis = "bilayer"',
            'analysis = "bilayer"\n[resources]\ntime = "soon"',
            "resources.time",
            "30m, 2h or 1d",
        ),
    ],
)
def test_bad_spec_names_file_key_and_allowed_values(tmp_path, old, new, key, allowed):
    assert old in GOOD
    path = write_spec(tmp_path / "bad", text=GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message and key in message and allowed in message


def test_invalid_toml_and_missing_spec(tmp_path):
    path = write_spec(tmp_path / "broken", text="name = [unclosed")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(path)
    with pytest.raises(SpecError, match="no campaign spec here"):
        load_spec(tmp_path / "nowhere")


def test_cli_reports_a_bad_spec_in_one_line(tmp_path, capsys):
    path = write_spec(
        tmp_path / "bad", text=GOOD.replace('"bilayer_graphene"', '"pore"')
    )
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown builder 'pore'" in err[0]


def test_a_label_that_reads_as_a_number_gets_its_key():
    """ase.db refuses a string that reads as a number ("0.8"): such labels name
    their grid key; the usual labels stay as they are."""
    from alkali_layers.campaigns.spec import ModelGroup

    pores = ModelGroup("closed_pore", {"width_nm": [0.8]}, {}, ("relax",))
    assert pores.label({"width_nm": 0.8}) == "width_nm-0.8"
    bilayer = ModelGroup(
        "bilayer_graphene", {"metal": ["Na"], "n_layers": [3]}, {}, ("relax",)
    )
    assert bilayer.label({"metal": "Na", "n_layers": 3}) == "Na-3L"


# --- [[models]] label: groups differing only in engine keep unique labels ---------
ONE_FACTOR = """
name = "factors"
analysis = "barriers"
[engine]
name = "mlip"
[[models]]
{label_a}builder = "migration_path"
tasks = ["barrier"]
[models.grid]
metal = ["Li"]
[models.params]
pathway = "graphene_hop"
[[models]]
{label_b}builder = "migration_path"
tasks = ["barrier"]
[models.grid]
metal = ["Li"]
[models.params]
pathway = "graphene_hop"
[models.engine]
dispersion = "none"
"""


def test_group_label_prefixes_the_labels_and_keeps_groups_apart(tmp_path):
    from alkali_layers.campaigns.campaign import Campaign

    text = ONE_FACTOR.format(
        label_a='label = "reference"\n', label_b='label = "no_d3"\n'
    )
    spec = load_spec(write_spec(tmp_path / "ok", text=text))
    ref, no_d3 = spec.models
    assert [ref.label(p) for p in ref.points()] == ["reference-Li"]
    assert [no_d3.label(p) for p in no_d3.points()] == ["no_d3-Li"]
    assert spec.engine_of(ref).dispersion == "d3bj"
    assert spec.engine_of(no_d3).dispersion == "none"
    # same structure, another engine: another task key
    a, b = Campaign(spec, stream=False).entries()
    assert a.key != b.key and (a.label, b.label) == ("reference-Li", "no_d3-Li")


def test_groups_without_labels_clash_and_say_so(tmp_path):
    from alkali_layers.campaigns.campaign import Campaign

    spec = load_spec(
        write_spec(tmp_path / "clash", text=ONE_FACTOR.format(label_a="", label_b=""))
    )
    with pytest.raises(ValueError, match="share labels"):
        Campaign(spec, stream=False).entries()


@pytest.mark.parametrize("bad", ['"no d3"', '"3x3"', "1", '""'])
def test_bad_group_label_names_the_key(tmp_path, bad):
    text = ONE_FACTOR.format(label_a=f"label = {bad}\n", label_b="")
    with pytest.raises(SpecError, match=r"models\[0\]\.label: must be a name"):
        load_spec(write_spec(tmp_path / "bad", text=text))


def test_finetuned_checkpoint_is_found_from_the_specs_directory(tmp_path, monkeypatch):
    """``finetuned`` is relative to the spec (like start_from): the campaign runs
    from any working directory and carries the checkpoint's identity."""
    meta = tmp_path / "model" / "finetune.json"
    meta.parent.mkdir()
    meta.write_text(
        '{"base_model": "7net-0", "checkpoint_sha256": "abc", '
        '"training_data_hash": "def"}'
    )
    text = GOOD.replace(
        '[engine]\nname = "mlip"',
        '[engine]\nname = "mlip"\ndispersion = "none"\n'
        'finetuned = "../model/finetune.json"',
    )
    spec_path = write_spec(tmp_path / "eval", text=text)
    monkeypatch.chdir("/")
    spec = load_spec(spec_path)
    assert spec.engine.finetuned == str(meta.resolve())
    assert spec.engine.checkpoint_sha256 == "abc"
    bad = write_spec(tmp_path / "bad", text=text.replace("../model", "../nowhere"))
    with pytest.raises(SpecError, match="no metadata file"):
        load_spec(bad)
