"""D3 on the torch device (``torch-dftd``) equals the ``dftd3`` package's D3."""

import numpy as np
import pytest

from alkali_layers.builders import bilayer_graphene, bulk_metal
from alkali_layers.engines import MLIPSettings, make_calculator
from alkali_layers.engines.dispersion import dispersion_calculator


def rattled(atoms, seed=0):
    """A copy off its symmetric positions (non-zero forces and shear stress)."""
    out = atoms.copy()
    out.rattle(0.05, seed=seed)
    return out


def d3(atoms, backend, dispersion="d3bj"):
    work = atoms.copy()
    work.calc = dispersion_calculator(dispersion, "PBE", backend=backend)
    return (
        work.get_potential_energy(),
        work.get_forces(),
        work.get_stress(),
    )


CASES = {
    # bilayer model (C6NaC6, 13 atoms): C-C within and across the gallery, Na-C
    "Na 1L AB bilayer": lambda: rattled(bilayer_graphene("Na", 1, "AB")),
    # bcc metal, 2x2x2 supercell of the primitive cell: metal-metal
    "bcc K": lambda: rattled(bulk_metal("K").repeat((2, 2, 2)), seed=1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_d3bj_equals_dftd3_package(case):
    """Same two-body D3(BJ): energy within 1e-5 eV/atom (measured 2e-8), forces
    within 1e-5 eV/A and stress within 1e-6 eV/A^3 (measured 3e-8 and 1e-9)."""
    atoms = CASES[case]()
    n = len(atoms)
    e_ref, f_ref, s_ref = d3(atoms, "dftd3")
    e, f, s = d3(atoms, "torch")
    # the dispersion is a real, sizeable binding: not a vacuous comparison
    assert -0.2 < e_ref / n < -0.05
    assert np.abs(f_ref).max() > 1e-3
    assert abs(e - e_ref) / n < 1e-5
    assert np.abs(f - f_ref).max() < 1e-5
    assert np.abs(s - s_ref).max() < 1e-6


def test_engine_with_torch_d3_gives_the_default_engine_energy(mlip):
    atoms = rattled(bulk_metal("Na").repeat((2, 2, 2)), seed=2)
    atoms.calc = mlip
    e_ref = atoms.get_potential_energy()
    torch_calc = make_calculator("mlip", dispersion_backend="torch", threads=1)
    probe = atoms.copy()
    probe.calc = torch_calc
    assert abs(probe.get_potential_energy() - e_ref) / len(atoms) < 1e-5
    assert np.abs(probe.get_forces() - atoms.get_forces()).max() < 1e-5
    assert torch_calc.alkali_settings.describe().endswith("(torch-dftd)")


def test_default_backend_keeps_the_settings_hash():
    # the hash every stored 7net-0 + D3(BJ) result carries (test_engines.py)
    assert MLIPSettings().settings_hash() == "e4874e99544c8707"
    assert MLIPSettings(dispersion_backend="dftd3").settings_hash() == (
        "e4874e99544c8707"
    )
    assert MLIPSettings(dispersion_backend="torch").settings_hash() != (
        "e4874e99544c8707"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dispersion_backend": "cuda"}, "unknown dispersion_backend 'cuda'"),
        ({"dispersion_backend": "torch", "dispersion": "d4"}, "computes D3"),
        ({"dispersion_backend": "torch", "dispersion": "none"}, "computes D3"),
    ],
)
def test_bad_dispersion_backend(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLIPSettings(**kwargs)


def test_bad_backend_of_the_dispersion_calculator():
    with pytest.raises(ValueError, match="unknown dispersion backend"):
        dispersion_calculator("d3bj", backend="gpu")
    with pytest.raises(ValueError, match="D3 only"):
        dispersion_calculator("d4", backend="torch")
