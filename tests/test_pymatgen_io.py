"""pymatgen at the boundary: Structure round trip with metadata; the project's voltage
and capacity analysis against pymatgen's InsertionElectrode on the campaign database."""

from pathlib import Path

import numpy as np
import pytest
from ase.db import connect

from alkali_layers.analysis.capacity import composition_capacity_mAh_g
from alkali_layers.analysis.hard_carbon import lower_convex_hull, voltage_profile
from alkali_layers.analysis.voltage import (
    formation_energy_eV_per_metal_atom,
    voltage_step_V,
)
from alkali_layers.builders import bilayer_graphene, graphite_intercalation
from alkali_layers.pymatgen_io import (
    INFO_KEY,
    from_structure,
    insertion_electrode,
    to_structure,
)

BILAYER_DB = Path(__file__).parents[1] / "runs" / "bilayer_graphene" / "results.db"


@pytest.mark.parametrize(
    "atoms",
    [bilayer_graphene("Na", 3, stacking="AB"), graphite_intercalation("K", "KC8")],
    ids=["Na-3L-AB", "KC8"],
)
def test_structure_round_trip_keeps_geometry_tags_and_metadata(atoms):
    structure = to_structure(atoms)
    assert len(structure) == len(atoms)
    assert dict(structure.composition.as_dict()) == {
        s: float(atoms.get_chemical_symbols().count(s))
        for s in set(atoms.get_chemical_symbols())
    }
    assert structure.properties[INFO_KEY]["metal"] == atoms.info["metal"]
    back = from_structure(structure)
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-10)
    np.testing.assert_allclose(back.cell[:], atoms.cell[:], atol=1e-12)
    assert back.info == atoms.info
    assert back.get_tags().tolist() == atoms.get_tags().tolist()
    # pymatgen sees the same lattice
    assert structure.volume == pytest.approx(atoms.get_volume())


def test_to_structure_refuses_a_non_periodic_cell():
    atoms = bilayer_graphene("Li", 1)
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="periodic in all three"):
        to_structure(atoms)


@pytest.fixture(scope="module")
def current_keys() -> set[str]:
    """Task keys of the bilayer campaign today: rows of superseded tasks stay in
    its database (nothing is dropped) and must not enter a series."""
    from alkali_layers.campaigns.campaign import Campaign
    from alkali_layers.campaigns.spec import load_spec

    campaign = Campaign(load_spec(BILAYER_DB.parent), stream=False)
    return {e.key for e in campaign.entries()}


def _series(metal: str, stacking: str, keys: set[str]):
    """(compositions, energies, mu) of one bilayer series from the campaign db."""
    db = connect(BILAYER_DB)
    host = db.get(label=f"bilayer_graphene-{stacking}")
    e_c = host.energy / host.natoms  # eV per carbon of the relaxed primitive host
    mu = db.get(label=f"bulk-{metal}").energy
    comps, energies = [{"C": 12}], [12 * e_c]
    for row in db.select(metal=metal, stacking=stacking, role="model"):
        if row.get("status") != "ok" or row.task_key not in keys:
            continue
        comps.append({"C": row.n_carbon, metal: row.n_metal})
        energies.append(row.energy)
    return comps, energies, mu, e_c


@pytest.mark.parametrize(
    ("metal", "stacking"), [("Li", "AA"), ("Na", "AA"), ("K", "AB"), ("Cs", "AB")]
)
def test_voltage_steps_and_capacities_agree_with_pymatgen(
    metal, stacking, current_keys
):
    comps, energies, mu, e_c = _series(metal, stacking, current_keys)
    assert len(comps) == 5  # empty host + 1-4 layers
    electrode = insertion_electrode(comps, energies, metal, mu)
    # the project's way: x = n/N_C, x*E_f per carbon, lower convex hull, steps
    x = [c.get(metal, 0) / c["C"] for c in comps]
    g = [0.0] + [
        xi * formation_energy_eV_per_metal_atom(e, c[metal], c["C"] * e_c, mu)
        for xi, e, c in zip(x[1:], energies[1:], comps[1:], strict=True)
    ]
    hull = lower_convex_hull(x, g)
    ours = []
    for a, b in zip(hull[:-1], hull[1:], strict=True):
        ef_a = g[a] / x[a] if x[a] else 0.0
        ours.append(voltage_step_V(x[a], ef_a, x[b], g[b] / x[b]))
    theirs = [p.voltage for p in electrode.voltage_pairs]
    assert len(theirs) == len(ours) >= 1
    assert theirs == pytest.approx(ours, abs=1e-3)  # 1 meV
    # capacity on the total basis (metal included) at each hull vertex
    mass_mAh = 0.0
    for pair, b in zip(electrode.voltage_pairs, hull[1:], strict=True):
        mass_mAh += pair.mAh
        q_pymatgen = mass_mAh / pair.mass_discharge
        q_ours = composition_capacity_mAh_g(comps[b], metal, basis="total")
        assert q_pymatgen == pytest.approx(q_ours, abs=0.1)  # 0.1 mAh/g
    assert electrode.get_capacity_grav() == pytest.approx(
        composition_capacity_mAh_g(comps[hull[-1]], metal, basis="total"), abs=0.1
    )


def test_hard_carbon_profile_agrees_with_pymatgen_in_one_host():
    # one host cell, n = 0..6 metal atoms: the hard-carbon voltage_profile (hull of
    # E(n) - n mu) against InsertionElectrode; energies invented but convexity mixed
    host = {"C": 48}
    n = [0, 1, 2, 3, 4, 5, 6]
    e = [-400.0, -401.9, -403.5, -405.2, -406.6, -407.7, -409.0]
    mu = -1.3
    profile = voltage_profile(n, e, mu, "Na", host, basis="total")
    electrode = insertion_electrode(
        [{**host, "Na": k} for k in n if k] + [host], e[1:] + e[:1], "Na", mu
    )
    ours = [s.voltage_V for s in profile.steps]
    assert [p.voltage for p in electrode.voltage_pairs] == pytest.approx(ours, abs=1e-3)
    # hand check of the first hull step: 0 -> 1, V = -(-401.9 + 400 + 1.3) = 0.6 V
    assert ours[0] == pytest.approx(0.6, abs=1e-9)
    assert electrode.get_capacity_grav() == pytest.approx(
        profile.steps[-1].capacity2_mAh_g, abs=0.1
    )


def test_insertion_electrode_needs_the_empty_host():
    with pytest.raises(ValueError, match="empty host"):
        insertion_electrode([{"C": 6, "Li": 1}], [-50.0], "Li", -1.9)
