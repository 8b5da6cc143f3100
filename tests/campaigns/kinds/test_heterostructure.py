"""The heterostructure study as a campaign: builders, spec, layout."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.kinds.heterostructure import (
    metal_chemical_potentials,
    write_outputs,
)
from alkali_layers.campaigns.registry import BUILDERS, LAYOUTS
from alkali_layers.campaigns.spec import load_spec

REPO = Path(__file__).resolve().parents[3]


def test_builders_and_layout_are_registered():
    assert BUILDERS["graphene_mos2"].__name__ == "graphene_mos2"
    assert BUILDERS["mos2"].__name__ == "mos2"
    assert LAYOUTS["heterostructure"] is write_outputs


def test_committed_spec_expands_into_tasks():
    spec = load_spec(REPO / "runs" / "graphene_mos2")
    assert spec.analysis == "heterostructure"
    entries = Campaign(spec).entries()
    labels = [e.label for e in entries]
    assert "bulk_metal-Na" in labels
    for phase in ("2H", "1Tp"):
        assert f"graphene_mos2-Na-0L-{phase}" in labels  # the empty reference
        assert f"graphene_mos2-Na-4L-{phase}" in labels
    built = {e.label: e.task.atoms for e in entries}
    assert built["graphene_mos2-Na-2L-1Tp"].info["phase"] == "1T'"
    assert all(a is not None for a in built.values())
    # the whole grid: five metals, fcc/hcp/bcc, both phases, 0-4 layers; its
    # largest cells are the 20-Mo bcc(110) ones of Rb and Cs (130 + 4 x 8 atoms)
    loaded = [a.info for a in built.values() if a.info.get("host") == "graphene_mos2"]
    grid = {(i["cell_metal"], i["packing"], i["phase"], i["n_layers"]) for i in loaded}
    assert len(grid) == 5 * (3 * 2 * 5) - 5 * 2 * 3  # hcp from 3 layers on
    assert max(len(a) for a in built.values()) == 162


def _fake_campaign(tmp_path, rows):
    store = SimpleNamespace(rows=lambda **kw: [])
    spec = SimpleNamespace(title="test", name="test")
    return SimpleNamespace(
        root=tmp_path,
        model_rows=lambda: (rows, [("x", "why")]),
        store=store,
        spec=spec,
    )


#: the database fields every heterostructure row of the layout tests shares
CELL = {
    "host": "graphene_mos2",
    "cell_metal": "Na",
    "packing": "fcc",
    "n_Mo": 4,
    "supercell": "[[2,1],[-1,3]]",
    "mos2_supercell": "[[1,0],[0,2]]",
    "converged": True,
}


def test_layout_writes_table_and_figures(tmp_path):
    common = CELL
    rows = [
        {"host": "bulk", "metal": "Na", "energy_eV": -2.6, "n_atoms": 2},
        {**common, "metal": "", "n_layers": 0, "n_metal": 0, "phase": "2H",
         "energy_eV": -200.0, "label": "e2"},
        {**common, "metal": "", "n_layers": 0, "n_metal": 0, "phase": "1T'",
         "energy_eV": -198.0, "label": "e1"},
        {**common, "metal": "Na", "n_layers": 1, "n_metal": 3, "phase": "2H",
         "energy_eV": -206.0, "label": "m2"},
        {**common, "metal": "Na", "n_layers": 1, "n_metal": 3, "phase": "1T'",
         "energy_eV": -205.0, "label": "m1"},
    ]  # fmt: skip
    assert metal_chemical_potentials(rows) == {"Na": -1.3}
    table = write_outputs(_fake_campaign(tmp_path, rows))
    assert len(table) == 2
    text = (tmp_path / "table.md").read_text()
    assert "mu_M (eV/atom): Na -1.3000" in text
    assert "* x: why" in text  # failures listed
    csv = (tmp_path / "table.csv").read_text().splitlines()
    assert csv[0].startswith("metal,n_layers,packing,phase,n_metal,x_per_Mo")
    # 2H, 1 layer: (-206 + 200 + 3 x 1.3) / 3 = -0.7 eV per Na
    assert "-0.7" in csv[2] or "-0.7" in csv[1]
    for name in ("intercalation_energy", "phase_difference"):
        assert (tmp_path / f"{name}.png").exists()
        assert (tmp_path / f"{name}.csv").exists()


def test_layout_writes_error_bars_from_stored_ensembles(tmp_path):
    common = CELL
    rows = [
        {"host": "bulk", "metal": "Na", "energy_eV": -2.6, "n_atoms": 2,
         "data": {"beef_ensemble_eV": [-2.6, -3.2]}},
        {**common, "metal": "", "n_layers": 0, "n_metal": 0, "phase": "2H",
         "energy_eV": -200.0, "label": "e2",
         "data": {"beef_ensemble_eV": [-200.0, -200.0]}},
        {**common, "metal": "Na", "n_layers": 1, "n_metal": 3, "phase": "2H",
         "energy_eV": -206.0, "label": "m2",
         "data": {"beef_ensemble_eV": [-206.0, -206.0]}},
    ]  # fmt: skip
    write_outputs(_fake_campaign(tmp_path, rows))
    header, row = (tmp_path / "table.csv").read_text().splitlines()[:2]
    columns = header.split(",")
    assert columns[columns.index("intercalation_energy_eV") + 1] == (
        "intercalation_energy_std_eV"
    )
    # members: mu = [-1.3, -1.6]; (-206 + 200 - 3 mu) / 3 = [-0.7, -0.4]: std 0.15
    std = float(row.split(",")[columns.index("intercalation_energy_std_eV")])
    assert std == pytest.approx(0.15)
    assert "BEEF-vdW ensemble" in (tmp_path / "table.md").read_text()


def test_layout_attaches_bader_charges(tmp_path):
    from alkali_layers.builders.mos2 import graphene_mos2
    from alkali_layers.campaigns.kinds.heterostructure import attach_charges

    atoms = graphene_mos2("Na", 1)
    symbols = atoms.get_chemical_symbols()
    q = [0.8 if s == "Na" else (-0.6 if s == "Mo" else 0.0) for s in symbols]
    folder = tmp_path / "charges" / "tasks" / "m.abc"
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(
        json.dumps(
            {"status": "ok", "label": "m", "symbols": symbols, "net_charges_e": q}
        )
    )
    row = SimpleNamespace(toatoms=lambda: atoms)
    campaign = SimpleNamespace(
        root=tmp_path, store=SimpleNamespace(rows=lambda **kw: [row])
    )
    rows = [{"label": "m"}, {"label": "other"}]
    assert attach_charges(campaign, rows) == 1
    # 4 Mo take 0.6 e each: 0.6 e per Mo received
    assert rows[0]["charge_per_Mo_e"] == pytest.approx(0.6)
    assert "charge_per_Mo_e" not in rows[1]


def test_cli_builds_heterostructure_and_rejects_unknown_phase(tmp_path, capsys):
    from ase.io import read

    from alkali_layers.cli import main

    out = tmp_path / "na.extxyz"
    argv = ["build", "graphene-mos2", "--metal", "Na", "--layers", "2"]
    assert main([*argv, "--phase", "1T'", "--n-metal", "4", "-o", str(out)]) == 0
    atoms = read(out)
    assert atoms.get_chemical_formula() == "C14Mo4Na4S8"
    assert atoms.info["phase"] == "1T'"
    assert main([*argv, "--phase", "3R", "-o", str(tmp_path / "x.extxyz")]) != 0
    assert "unknown MoS2 phase '3R'; allowed: 2H, 1T', 1T" in capsys.readouterr().err
