"""The one-factor-at-a-time diagnosis table (alkali_layers.analysis.barrier_diagnosis),
checked against hand-computed differences."""

import numpy as np
import pytest
from ase import Atoms

from alkali_layers.analysis.barrier_diagnosis import (
    DIAGNOSIS_COLUMNS,
    adatom_height_A,
    diagnosis_table,
)


def _sites(factor, e_hollow, e_bridge, e_top, heights=(1.7, 2.0, 2.1)):
    return [
        dict(
            factor=factor,
            engine="E",
            kind="site",
            site=site,
            energy_eV=e,
            height_A=h,
            supercell=3,
        )
        for site, e, h in zip(
            ("hollow", "bridge", "top"),
            (e_hollow, e_bridge, e_top),
            heights,
            strict=True,
        )
    ]


def _band(factor, barrier, converged=True, supercell=3):
    return dict(
        factor=factor,
        engine=f"engine of {factor}",
        kind="barrier",
        supercell=supercell,
        converged=converged,
        barrier_fwd_eV=barrier,
        force_calls=100,
    )


def test_site_differences_and_barrier_deltas_by_hand():
    records = [
        _band("reference", 0.0721),
        *_sites("reference", -150.000, -149.962, -149.950),
        _band("no_d3", 0.0704),
        *_sites("no_d3", -140.0, -139.9, -139.85),
        _band("cell4x4", 0.080, supercell=4),
    ]
    ref, no_d3, cell = diagnosis_table(records)
    assert list(ref) == list(DIAGNOSIS_COLUMNS)
    assert ref["barrier_fwd_eV"] == 0.072 and ref["delta_barrier_eV"] == 0.0
    # -149.962 - (-150.000) = 0.038; -149.950 - (-150.000) = 0.050
    assert ref["E_bridge_minus_hollow_eV"] == pytest.approx(0.038, abs=1e-9)
    assert ref["E_top_minus_hollow_eV"] == pytest.approx(0.050, abs=1e-9)
    assert (ref["height_hollow_A"], ref["height_top_A"]) == (1.7, 2.1)
    assert no_d3["delta_barrier_eV"] == pytest.approx(0.070 - 0.072, abs=1e-9)
    assert no_d3["E_bridge_minus_hollow_eV"] == pytest.approx(0.1, abs=1e-9)
    assert no_d3["engine"] == "engine of no_d3"
    # a factor without site tasks has no site columns, only its band
    assert cell["supercell"] == 4 and cell["E_top_minus_hollow_eV"] is None
    assert cell["delta_barrier_eV"] == pytest.approx(0.008, abs=1e-9)


def test_unconverged_band_gives_no_barrier_and_no_delta():
    (row,) = diagnosis_table([_band("reference", 0.5, converged=False)])
    assert row["barrier_fwd_eV"] is None and row["delta_barrier_eV"] is None
    # the reference missing: deltas are left empty, not computed against zero
    (row,) = diagnosis_table([_band("d4", 0.05)])
    assert row["barrier_fwd_eV"] == 0.05 and row["delta_barrier_eV"] is None


def test_unconverged_site_is_named_and_gives_no_energy():
    records = _sites("no_d3", -1.0, -0.9, -0.8)
    records[0]["converged"] = False  # the hollow relaxation hit its step cap
    records.append(_band("no_d3", 0.3, converged=False))
    (row,) = diagnosis_table(records)
    assert row["not_converged"] == "hollow, band"
    assert row["height_hollow_A"] is None and row["E_bridge_minus_hollow_eV"] is None
    assert row["height_bridge_A"] == 2.0 and row["barrier_fwd_eV"] is None


def test_missing_hollow_leaves_site_differences_empty():
    records = _sites("reference", -1.0, -0.9, -0.8)[1:]  # bridge and top only
    (row,) = diagnosis_table(records)
    assert row["E_bridge_minus_hollow_eV"] is None
    assert row["height_bridge_A"] == 2.0


def test_duplicate_records_and_unknown_sites_or_kinds_raise():
    with pytest.raises(ValueError, match="two barrier records"):
        diagnosis_table([_band("reference", 0.1), _band("reference", 0.2)])
    bad = _sites("x", 0.0, 0.1, 0.2)[0] | {"site": "centre"}
    with pytest.raises(ValueError, match="unknown site 'centre'"):
        diagnosis_table([bad])
    with pytest.raises(ValueError, match="unknown record kind"):
        diagnosis_table([dict(factor="x", kind="phonon")])


def test_adatom_height_is_above_the_mean_carbon_plane():
    atoms = Atoms(
        "C3Li", positions=[[0, 0, 10.0], [1.4, 0, 10.2], [0, 1.4, 9.8], [0.5, 0.5, 12]]
    )
    assert adatom_height_A(atoms, 3) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no carbon"):
        adatom_height_A(Atoms("Li2", positions=np.zeros((2, 3))), 0)
