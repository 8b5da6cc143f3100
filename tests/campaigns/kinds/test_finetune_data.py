"""The training-data campaign: the rattled_relaxed builder (quick) and a tiny GPAW
campaign whose frames the fine-tuning collector reads back (slow)."""

import numpy as np
import pytest
from ase.build import bulk, graphene

from alkali_layers.campaigns.kinds.finetune_data import rattled_relaxed
from alkali_layers.campaigns.store import ResultStore
from alkali_layers.cli import main
from alkali_layers.engines.finetune import collect_frames

from ..conftest import TINY_GPAW_ENGINE, write_spec


def source_campaign(root):
    store = ResultStore(root / "results.db")
    sheet = graphene(a=2.46, vacuum=6.0)
    store.record("k1", sheet, {"label": "sheet"})
    store.record("k2", bulk("Na", "bcc", a=4.2), {"label": "bulk-Na"})
    return sheet


def test_rattled_relaxed_stretches_layers_and_names_its_model(tmp_path):
    sheet = source_campaign(tmp_path)
    two = sheet.copy()
    atoms = rattled_relaxed(str(tmp_path), "sheet", amplitude_A=0.0, z_strain=0.1)
    assert np.allclose(atoms.positions, two.positions)  # one plane: nothing to stretch
    assert atoms.info["dft_model"] == "sheet"
    shaken = rattled_relaxed(str(tmp_path), "sheet", seed=1, amplitude_A=0.05)
    moved = np.linalg.norm(shaken.positions - sheet.positions, axis=1)
    assert 0 < moved.max() < 0.3
    again = rattled_relaxed(str(tmp_path), "sheet", seed=1, amplitude_A=0.05)
    assert np.array_equal(again.positions, shaken.positions)  # seeded
    metal = rattled_relaxed(str(tmp_path), "bulk-Na", amplitude_A=0.0, z_strain=0.05)
    assert metal.cell[2] == pytest.approx(bulk("Na", "bcc", a=4.2).cell[2] * 1.05)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"campaign": "nowhere", "label": "sheet"}, "no campaign database"),
        ({"label": "missing"}, "0 current finished rows"),
        ({"label": "sheet", "z_strain": 0.5}, "z_strain"),
    ],
)
def test_rattled_relaxed_bad_input(tmp_path, kwargs, message):
    source_campaign(tmp_path)
    kwargs.setdefault("campaign", str(tmp_path))
    with pytest.raises(ValueError, match=message):
        rattled_relaxed(**kwargs)


TINY_GPAW = (
    """
name = "frames_tiny"
analysis = "dft_frames"
"""
    + TINY_GPAW_ENGINE
    + """
[[models]]
builder = "rattled_relaxed"
tasks = ["single_point"]
[models.grid]
label = ["bulk-Na-2"]
seed = [0, 1]
[models.params]
campaign = "{source}"
amplitude_A = 0.1
"""
)


@pytest.mark.slow
def test_gpaw_single_points_become_training_frames(tmp_path):
    # a two-atom Na cell, 250 eV, one k point per 1.5 A^-1: seconds of GPAW
    store = ResultStore(tmp_path / "src" / "results.db")
    store.record("k", bulk("Na", "bcc", a=4.2, cubic=True), {"label": "bulk-Na-2"})
    spec = write_spec(
        tmp_path / "frames", text=TINY_GPAW.format(source=tmp_path / "src")
    )
    assert main(["run", str(spec), "--workers", "1"]) == 0
    frames = collect_frames([spec.parent])
    assert len(frames) == 2
    assert {f.info["model"] for f in frames} == {"bulk-Na-2"}  # one model, 2 rattles
    assert all(np.abs(f.get_forces()).max() > 1e-3 for f in frames)
    # the forces sum to zero (translation invariance): DFT forces, not a placeholder
    assert all(np.allclose(f.get_forces().sum(axis=0), 0, atol=0.02) for f in frames)
    assert (spec.parent / "table.md").read_text().count("| bulk-Na-2 |") == 2
