"""The filling check as a campaign: a stored pore filling recomputed by an engine."""

import csv
from pathlib import Path

import pytest

from alkali_layers.campaigns.registry import LAYOUTS
from alkali_layers.campaigns.spec import load_spec
from alkali_layers.cli import main

REPO = Path(__file__).resolve().parents[3]
RESULTS = REPO / "runs" / "hard_carbon" / "results"

SPEC = """
name = "check"
title = "closed-Na-strict recomputed (test)"
analysis = "filling_check"

[engine]
name = "mlip"

[relax]
fmax_eV_A = 0.02

[[models]]
builder = "bulk_metal"
tasks = ["relax"]
[models.grid]
metal = ["Na"]

[[models]]
builder = "filling_structure"
tasks = ["single_point"]
[models.grid]
filling = ["closed-Na-strict"]
n_metal = [0, 4, 8]
[models.params]
results = "{results}"
"""


def test_committed_spec_expands_into_the_filling_path():
    spec = load_spec(REPO / "runs" / "hard_carbon_dft")
    assert spec.analysis == "filling_check" and LAYOUTS["filling_check"]
    assert spec.engine.error_bars and spec.engine.final.ecut_eV == 400.0
    (metal,) = [g for g in spec.models if g.builder == "bulk_metal"]
    assert spec.engine_of(metal).final.kpt_density == 10.0


@pytest.mark.slow  # ~1 min: 7net-0 single points of 64-72-atom pores + bcc Na
def test_same_engine_reproduces_the_fillings_voltages(tmp_path):
    """The filling was computed with 7net-0 + D3(BJ), the campaign's engine: single
    points at its geometries give its energies, so the step voltages agree up to
    the difference of the two bcc Na relaxations (fmax 0.02 vs the filling's)."""
    folder = tmp_path / "check"
    folder.mkdir()
    (folder / "campaign.toml").write_text(SPEC.format(results=RESULTS))
    assert main(["run", str(folder), "--workers", "1"]) == 0
    with open(folder / "table.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["step"], r["n1"], r["n2"]) for r in rows] == [
        ("step", "0", "4"),
        ("step", "4", "8"),
        ("whole", "0", "8"),
    ]
    for r in rows:
        assert abs(float(r["delta_V"])) < 0.01
        assert r["voltage_std_V"] == ""  # no ensembles with the fast engine
    # the filling's own first step (closed-Na-strict.json: -0.187 V, 7net-0 + D3)
    assert float(rows[0]["voltage_filling_V"]) == pytest.approx(-0.187, abs=2e-3)
    md = (folder / "table.md").read_text()
    assert "lower convex hull, campaign" in md
    assert (folder / "filling_check.png").stat().st_size > 1000


def test_table_carries_beef_error_bars_by_hand():
    from alkali_layers.campaigns.kinds.filling_check import filling_check_table

    source = f"{RESULTS / 'closed-Na-strict.traj'}#n_metal=0"

    def point(n, energy, members):
        return {
            "filling": "closed-Na-strict",
            "n_metal": n,
            "source": source,
            "energy_eV": energy,
            "data": {"beef_ensemble_eV": members},
        }

    rows = [
        {"host": "bulk", "metal": "Na", "n_atoms": 1, "energy_eV": -1.5,
         "data": {"beef_ensemble_eV": [-1.5, -1.4]}},
        point(0, -600.0, [-600.0, -600.0]),
        point(4, -606.4, [-606.4, -606.0]),
    ]  # fmt: skip
    table, notes = filling_check_table(rows)
    step, whole = table
    # V = -(-606.4 + 600 + 4 x 1.5) / 4 = +0.1 V; member 2: -(-6.0 + 5.6) / 4 = +0.1
    assert step["voltage_V"] == pytest.approx(0.1)
    assert step["voltage_std_V"] == pytest.approx(0.0)
    assert (whole["step"], whole["n1"], whole["n2"]) == ("whole", 0, 4)
    # the filling's own step 0 -> 4 (7net-0 + D3): -0.187 V; delta = 0.1 + 0.187
    assert step["delta_V"] == pytest.approx(0.287, abs=2e-3)
    rows[2]["data"]["beef_ensemble_eV"] = [-606.4, -606.8]
    (step, _), _ = filling_check_table(rows)
    # member 2: -(-6.8 + 5.6) / 4 = +0.3: std of [0.1, 0.3] = 0.1
    assert step["voltage_std_V"] == pytest.approx(0.1)
    # without the empty pore the filling waits
    table, notes = filling_check_table([rows[0], rows[2]])
    assert table == [] and "waiting for the empty pore" in notes[0]
