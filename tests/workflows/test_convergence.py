"""Scan keys of the GPAW convergence scans (the scans themselves: test_dft.py)."""

from dataclasses import replace

from alkali_layers.builders import bulk_metal
from alkali_layers.engines import PBE_D3BJ, GPAWSettings
from alkali_layers.settings import stable_hash, structure_hash
from alkali_layers.workflows.convergence import scan_key


def test_scan_key_keeps_its_identity_when_settings_gain_a_field():
    """A GPAWSettings field added later (``setups``) at its default leaves the key
    of a scan as it was before the field existed (the committed points.csv of
    runs/convergence/Na3L_BLG_AA stay valid); away from its default it is a new
    scan.  Cutoff and k density never enter the key."""
    atoms = bulk_metal("Na")
    base = GPAWSettings(**PBE_D3BJ)
    before_setups = {
        k: v
        for k, v in vars(replace(base, ecut_eV=1.0, kpt_density=1.0)).items()
        if k != "setups"
    }
    assert scan_key(atoms, base) == stable_hash(
        {
            "structure": structure_hash(atoms),
            "refs": [None, None],
            "base": before_setups,
        }
    )
    assert scan_key(atoms, replace(base, ecut_eV=600.0, kpt_density=8.0)) == (
        scan_key(atoms, base)
    )
    assert scan_key(atoms, replace(base, setups="li-sc")) != scan_key(atoms, base)


def test_points_stored_under_the_signed_zero_key_are_read_back(tmp_path):
    # scan.csv rows written before 2026-12-02 carry the signed-zero structure hash
    from alkali_layers.workflows.convergence import (
        ScanPoint,
        _append_checkpoint,
        _read_checkpoint,
    )

    atoms = bulk_metal("Na")
    atoms.positions[0, 0] = -1e-17  # rounds to -0.0
    base = GPAWSettings(**PBE_D3BJ)
    new, old = (scan_key(atoms, base, signed_zeros=s) for s in (False, True))
    assert new != old
    point = ScanPoint("ecut", 400.0, 4.0, "4x4x4", -1.3, None, 12, 5.0)
    path = tmp_path / "scan.csv"
    _append_checkpoint(path, old, point)
    assert _read_checkpoint(path, {new}) == {}
    assert _read_checkpoint(path, {new, old}) == {("ecut", 400.0, 4.0): point}
