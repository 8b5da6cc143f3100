"""The ``convergence`` task kind: a GPAW cutoff/k scan as a campaign task, its
checkpoint, its reuse of earlier points by scan key, and its layout.

GPAW itself is replaced by a fake single point (the scan machinery is under test;
the GPAW scan is tested in tests/calculators/test_dft.py)."""

import shutil
import textwrap

import pytest

from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.kinds.convergence import (
    POINTS_FILE,
    ConvergenceOptions,
    seed_campaign,
)
from alkali_layers.campaigns.registry import task_kind
from alkali_layers.campaigns.worker import run_task_folder
from alkali_layers.workflows import convergence

SPEC = """
name = "conv"
analysis = "convergence"
[engine]
name = "gpaw"
xc = "PBE"
dispersion = "d3bj"
setups = "paw"
prerelax = "none"
[[models]]
builder = "bulk_metal"
tasks = ["convergence"]
grid = {{ metal = ["{metal}"] }}
[models.options]
cutoffs_eV = [250, 200]
kpt_densities = [2, 1.5]
"""


def write(tmp_path, name, metal="Na"):
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "campaign.toml").write_text(textwrap.dedent(SPEC.format(metal=metal)))
    return folder


@pytest.fixture
def fake_gpaw(monkeypatch):
    """E = -1 eV/atom - 1e-4 x cutoff - 1e-3 x k density; counts the calls."""
    calls = []

    def single_point(atoms, settings, txt=None):
        calls.append((settings.ecut_eV, settings.kpt_density))
        energy = -1.0 - 1e-4 * settings.ecut_eV - 1e-3 * settings.kpt_density
        return energy * len(atoms), 7

    monkeypatch.setattr(convergence, "single_point", single_point)
    return calls


def test_convergence_options_are_sorted_numbers_with_the_scan_defaults():
    options = task_kind("convergence").options_dict({"cutoffs_eV": [500, 400]})
    assert options["cutoffs_eV"] == (400.0, 500.0)
    assert ConvergenceOptions().kpt_densities == (2.0, 3.0, 4.0, 5.0)
    with pytest.raises(ValueError, match="positive"):
        task_kind("convergence").options_dict({"kpt_densities": [0, 2]})
    with pytest.raises(ValueError, match="list of numbers"):
        task_kind("convergence").options_dict({"cutoffs_eV": ["high"]})


def test_convergence_task_scans_and_writes_its_layout(tmp_path, fake_gpaw):
    """Cutoffs 200, 250 at k 2, then k 1.5 at 250 eV; dE against (250, 2) by hand:
    200 eV is 1e-4 x 50 eV = 5 meV/atom higher, k 1.5 is 0.5 meV/atom higher."""
    folder = write(tmp_path, "a")
    campaign = Campaign(folder, stream=False)
    table = campaign.run()
    assert fake_gpaw == [(200.0, 2.0), (250.0, 2.0), (250.0, 1.5)]
    (row,) = campaign.model_rows()[0]
    points = row["data"]["points"]
    assert [p["dE_meV_per_atom"] for p in points] == pytest.approx([5.0, 0.0, 0.5])
    assert row["largest_dE_meV_per_atom"] == pytest.approx(5.0)
    assert table[0]["points"] == 3
    assert (folder / row["label"] / "scan.md").exists()
    assert f"[{row['label']}/scan.md]" in (folder / "table.md").read_text()


def test_seeded_points_of_the_same_scan_are_reused_others_ignored(tmp_path, fake_gpaw):
    """Points of an earlier scan (its points.csv) are used by a new task only when
    their scan key is the task's: a K scan's points do not enter a Na scan."""
    first = write(tmp_path, "first")
    Campaign(first, stream=False).run()
    earlier = next((first / "tasks").glob(f"*/{POINTS_FILE}"))
    old = tmp_path / "old" / "Na_scan"  # where `alkali-layers converge --out` wrote
    old.mkdir(parents=True)
    shutil.copy(earlier, old / POINTS_FILE)
    fake_gpaw.clear()

    again = write(tmp_path, "again")
    campaign = Campaign(again, stream=False)
    assert list(seed_campaign(campaign, tmp_path / "old").values()) == [3]
    (entry,) = campaign.entries()
    run_task_folder(entry.folder)
    assert fake_gpaw == []  # every point came from the seeded checkpoint

    other = write(tmp_path, "other", metal="K")
    campaign = Campaign(other, stream=False)
    seed_campaign(campaign, tmp_path / "old")
    (entry,) = campaign.entries()
    run_task_folder(entry.folder)
    assert len(fake_gpaw) == 3  # another structure: every point computed


def test_convergence_needs_the_gpaw_engine(tmp_path):
    folder = write(tmp_path, "ml")
    path = folder / "campaign.toml"
    path.write_text(
        path.read_text().replace(
            'name = "gpaw"\nxc = "PBE"\ndispersion = "d3bj"\nsetups = "paw"\n'
            'prerelax = "none"',
            'name = "mlip"',
        )
    )
    campaign = Campaign(folder, stream=False)
    (entry,) = campaign.entries()
    campaign.write_task_files()
    result = run_task_folder(entry.folder, calc=object())
    assert result["status"] == "failed"
    assert "name = 'gpaw'" in result["reason"]
