"""Models that start from another campaign's relaxed geometries (start_from)."""

import numpy as np
import pytest

from alkali_layers.builders import bilayer_graphene
from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.spec import SpecError, load_spec
from alkali_layers.campaigns.start import start_geometry
from alkali_layers.campaigns.store import ResultStore

from .conftest import write_spec

GPAW_SPEC = """
name = "restart"
analysis = "bilayer"

[engine]
name = "gpaw"
prerelax = "mlip"

[[models]]
builder = "bilayer_graphene"
tasks = ["formation_energy"]
{start}
[models.grid]
metal = {metals}
n_layers = [1]
stacking = ["AA"]
"""


def old_campaign(directory, label="bilayer_graphene-Li-1L-AA", atoms=None):
    """A campaign directory whose database holds one finished, 'relaxed' model:
    the builder's Li 1L with the gallery opened by 0.2 A and the cell by 1 %."""
    directory.mkdir(parents=True)
    (directory / "campaign.toml").write_text('name = "old"\n')
    if atoms is None:
        atoms = bilayer_graphene("Li", 1)
        top = atoms.get_tags() == 2
        atoms.positions[top, 2] += 0.2
        cell = atoms.cell.copy()
        cell[:2] *= 1.01
        atoms.set_cell(cell, scale_atoms=True)
    store = ResultStore(directory / "results.db")
    store.record("k-" + label, atoms, {"label": label, "role": "model"})
    return atoms


def test_a_group_starts_from_the_old_geometry_without_ml_prerelax(tmp_path):
    old = old_campaign(tmp_path / "old")
    spec_path = write_spec(
        tmp_path / "new",
        text=GPAW_SPEC.format(start='start_from = "../old"', metals='["Li"]'),
    )
    spec = load_spec(spec_path)
    group = spec.models[0]
    assert spec.engine.prerelax is not None
    assert spec.engine_of(group).prerelax is None  # the DFT start is kept
    entries = Campaign(spec, stream=False).entries()
    model = next(e for e in entries if e.task.role == "model")
    assert np.allclose(model.task.atoms.positions, old.positions)
    assert np.allclose(model.task.atoms.cell, old.cell)
    assert model.task.params["start_from"] == "../old"
    assert model.task.atoms.info["gallery_height_A"] == pytest.approx(
        bilayer_graphene("Li", 1).info["gallery_height_A"] + 0.2
    )
    # the references are the builder's (shared with every group): same keys as a
    # campaign without start_from; the model's key is not
    plain = Campaign(
        load_spec(
            write_spec(
                tmp_path / "plain", text=GPAW_SPEC.format(start="", metals='["Li"]')
            )
        ),
        stream=False,
    ).entries()
    ref_keys = lambda es: {e.label: e.key for e in es if e.task.role == "reference"}  # noqa: E731
    assert ref_keys(entries) == ref_keys(plain)
    assert model.key != next(e.key for e in plain if e.task.role == "model")


def test_start_from_errors(tmp_path):
    with pytest.raises(
        SpecError, match=r"models\[0\]\.start_from: .* holds no results"
    ):
        load_spec(
            write_spec(
                tmp_path / "a",
                text=GPAW_SPEC.format(start='start_from = "../none"', metals='["Li"]'),
            )
        )
    old_campaign(tmp_path / "old")
    # a model the old campaign does not have fails alone, with the reason
    spec = load_spec(
        write_spec(
            tmp_path / "b",
            text=GPAW_SPEC.format(start='start_from = "../old"', metals='["Li", "Na"]'),
        )
    )
    models = [
        e for e in Campaign(spec, stream=False).entries() if e.task.role == "model"
    ]
    li, na = models
    assert li.task.atoms is not None
    assert na.task.atoms is None and "no finished model 'Na-1L-AA' in " in (
        na.task.build_error
    )
    # other atoms under the same label
    with pytest.raises(ValueError, match="another composition or order"):
        start_geometry(
            tmp_path / "old", "bilayer_graphene-Li-1L-AA", bilayer_graphene("Na", 1)
        )
    # a label without the builder prefix is found too
    old_campaign(tmp_path / "short", label="Li-1L-AA")
    atoms = start_geometry(
        tmp_path / "short",
        "bilayer_graphene-Li-1L-AA",
        bilayer_graphene("Li", 1),
        "bilayer_graphene",
    )
    assert atoms.info["start_from"].endswith(":Li-1L-AA")
