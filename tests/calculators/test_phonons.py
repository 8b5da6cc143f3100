"""Phonons through phonopy: acoustic sum rule, Einstein-model free energy, stability
verdict, per-displacement checkpoints, published graphite G mode."""

import json
import math

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from alkali_layers.builders import bilayer_graphene
from alkali_layers.calculators.phonons import (
    FORCES_DIR,
    PhononResult,
    PhononSettings,
    default_supercell,
    phonons,
    vacuum_axes,
)


class Springs(Calculator):
    """Einstein crystal: every atom tied to its simple-cubic lattice site by a spring
    of constant ``k`` (eV/A^2), E = k/2 sum |r - r0|^2.  Not translationally
    invariant, so the acoustic sum rule must stay off."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, k_eV_A2: float, a_A: float):
        super().__init__()
        self.k, self.a = k_eV_A2, a_A

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.atoms.positions
        u = r - np.round(r / self.a) * self.a
        self.results = {
            "energy": 0.5 * self.k * float((u**2).sum()),
            "forces": -self.k * u,
        }


class Counting(Calculator):
    """EMT that counts its force calls and can fail after ``fail_after`` calls."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, fail_after: int | None = None):
        super().__init__()
        self.calls, self.fail_after, self.emt = 0, fail_after, EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("killed")
        self.calls += 1
        work = self.atoms.copy()
        work.calc = self.emt
        self.results = {
            "energy": work.get_potential_energy(),
            "forces": work.get_forces(),
        }


def _emt_equilibrium(symbol: str, structure: str, a0: float) -> Atoms:
    def energy(a):
        atoms = bulk(symbol, structure, a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    a = minimize_scalar(energy, bounds=(0.9 * a0, 1.1 * a0), method="bounded").x
    return bulk(symbol, structure, a=a)


@pytest.fixture(scope="module")
def al_fcc():
    return phonons(_emt_equilibrium("Al", "fcc", 4.05), EMT())


def test_gamma_acoustic_modes_vanish_with_the_sum_rule(al_fcc):
    assert len(al_fcc.gamma_frequencies_THz) == 3
    assert al_fcc.gamma_acoustic_max_abs_THz < 1e-3
    assert max(abs(f) for f in al_fcc.gamma_frequencies_THz) < 1e-3


def test_stable_fcc_metal_has_no_imaginary_modes(al_fcc):
    assert al_fcc.dynamically_stable and al_fcc.stability == "stable"
    assert al_fcc.n_imaginary_qpoints == 0
    assert al_fcc.lowest_frequency_THz > -al_fcc.imaginary_tolerance_THz
    # EMT fcc Al: top of the spectrum ~8 THz (experiment ~9.7 THz); a sanity range
    assert 6.0 < al_fcc.max_frequency_THz < 11.0
    assert al_fcc.supercell_matrix == np.diag([5, 5, 5]).tolist()  # 10 A default
    assert al_fcc.band["labels"][0] == "Γ"


def test_result_round_trips_through_json(al_fcc):
    again = PhononResult.from_dict(json.loads(json.dumps(al_fcc.to_dict())))
    assert again == al_fcc
    assert again.free_energy_at(300.0) == pytest.approx(al_fcc.free_energy_eV[12])
    with pytest.raises(ValueError, match="outside"):
        again.free_energy_at(5000.0)


def test_einstein_crystal_free_energy_matches_hand_formula():
    # nu = sqrt(k/m)/(2 pi): k = 1 eV/A^2, m(Al) = 26.9815 amu -> 3.00966 THz
    # (sqrt(1.602177e-19 J / 1e-20 m^2 / (26.9815 * 1.660539e-27 kg)) / 2 pi).
    atoms = Atoms("Al", cell=np.eye(3) * 3.0, pbc=True)
    result = phonons(
        atoms,
        Springs(1.0, 3.0),
        settings=PhononSettings(supercell=(2, 2, 2), acoustic_sum_rule=False),
    )
    nu_THz = math.sqrt(units._e * 1e20 / (26.9815385 * units._amu)) / (2 * math.pi)
    nu_THz /= 1e12
    assert nu_THz == pytest.approx(3.00966, abs=1e-5)
    assert result.gamma_frequencies_THz == pytest.approx([nu_THz] * 3, abs=1e-4)
    h_nu = units._hplanck / units._e * nu_THz * 1e12  # eV
    kT = units.kB * 300.0
    f300 = 3 * (h_nu / 2 + kT * math.log(1 - math.exp(-h_nu / kT)))
    # by hand: h nu = 0.0124470 eV, F(300 K) = -0.0559389 eV, ZPE = 0.0186704 eV
    assert f300 == pytest.approx(-0.0559389, abs=1e-6)
    assert result.free_energy_at(300.0) == pytest.approx(f300, abs=2e-5)
    assert result.zero_point_energy_eV == pytest.approx(1.5 * h_nu, abs=2e-5)
    assert result.free_energy_eV[0] == pytest.approx(result.zero_point_energy_eV)
    # S = -dF/dT (eV/K), from phonopy's entropy
    t = np.asarray(result.temperatures_K)
    dfdt = np.gradient(result.free_energy_eV, t)
    i300 = int(np.argmin(abs(t - 300)))
    assert -dfdt[i300] == pytest.approx(result.entropy_eV_K[i300], rel=2e-3)


def test_bcc_copper_is_flagged_dynamically_unstable():
    # bcc Cu is a saddle point of the Bain path: imaginary transverse modes at N
    # (Kraft et al., Phys. Rev. B 48, 5886 (1993)); EMT reproduces the instability.
    result = phonons(_emt_equilibrium("Cu", "bcc", 2.87), EMT())
    assert not result.dynamically_stable
    assert result.stability == "unstable"  # imaginary at a commensurate q too
    assert result.lowest_commensurate_THz < -0.5
    assert result.lowest_frequency_THz < -0.5
    assert result.n_imaginary_qpoints > 0
    # N = (0, 0, 1/2) in reduced coordinates of the bcc primitive cell
    assert sorted(abs(x) for x in result.lowest_qpoint) == pytest.approx([0, 0, 0.5])


def test_tolerance_decides_the_verdict():
    atoms = _emt_equilibrium("Cu", "bcc", 2.87)
    loose = phonons(atoms, EMT(), settings=PhononSettings(imaginary_tolerance_THz=5.0))
    assert loose.dynamically_stable


def test_forces_are_checkpointed_per_displacement_and_resumed(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.symbols[0] = "Au"  # L1_2 Cu3Au: several displacements
    settings = PhononSettings(supercell=(1, 1, 1))
    # a run killed after the first force call keeps that displacement
    killed = Counting(fail_after=1)
    with pytest.raises(RuntimeError, match="killed"):
        phonons(atoms, killed, settings=settings, folder=tmp_path)
    stored = sorted((tmp_path / FORCES_DIR).glob("disp-*.json"))
    assert len(stored) == 1
    resumed = Counting()
    first = phonons(atoms, resumed, settings=settings, folder=tmp_path)
    assert first.n_displacements >= 2
    assert resumed.calls == first.n_displacements - 1
    # a finished folder computes nothing and gives the same numbers
    again = Counting()
    second = phonons(atoms, again, settings=settings, folder=tmp_path)
    assert again.calls == 0
    assert second == first
    fresh = phonons(atoms, EMT(), settings=settings)
    assert fresh.free_energy_eV == pytest.approx(first.free_energy_eV, abs=1e-12)


def test_checkpoint_folder_of_other_settings_is_refused(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6)
    phonons(atoms, EMT(), supercell=(2, 2, 2), folder=tmp_path)
    with pytest.raises(ValueError, match="another structure or other settings"):
        phonons(atoms, EMT(), supercell=(3, 3, 3), folder=tmp_path)


def test_default_supercell_keeps_one_cell_along_vacuum():
    slab = bilayer_graphene("Na", 1)  # 4.26 A in-plane, vacuum along c
    assert vacuum_axes(slab) == [False, False, True]
    # perpendicular width 4.26 * sin(60) = 3.69 A -> 3 cells for >= 10 A
    assert default_supercell(slab) == (3, 3, 1)
    # bcc primitive cell: width a / sqrt(2) = 2.47 A -> 5 cells
    assert default_supercell(bulk("Li", "bcc", a=3.49)) == (5, 5, 5)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="displacement_A"):
        PhononSettings(displacement_A=0.5)
    with pytest.raises(ValueError, match="supercell"):
        PhononSettings(supercell=(0, 1, 1))
    with pytest.raises(TypeError, match="ASE calculator"):
        phonons(bulk("Cu"), "emt")


@pytest.mark.slow
def test_graphite_g_mode_close_to_raman_line(mlip):
    # The Raman G line of graphite (E2g, Gamma) is at 1582 cm^-1 = 47.4 THz
    # (Tuinstra & Koenig, J. Chem. Phys. 53, 1126 (1970)).  Gamma frequencies are
    # exact in any supercell, so the primitive cell (1x1x1) suffices.
    from alkali_layers.builders import graphite
    from alkali_layers.calculators.relax import RelaxSettings, relax
    from alkali_layers.elements import GRAPHITE_G_MODE_CM1

    relaxed = relax(graphite("AB"), mlip, RelaxSettings(fmax_eV_A=0.005)).atoms
    result = phonons(relaxed, mlip, supercell=(1, 1, 1))
    g_THz = GRAPHITE_G_MODE_CM1 * units._c * 100 / 1e12
    assert g_THz == pytest.approx(47.43, abs=0.01)
    # measured with 7net-0 + D3(BJ): 44.69 THz (1491 cm^-1), 5.8 % below the Raman
    # line: the softening typical of universal potentials trained on near-equilibrium
    # PBE data (Deng et al., npj Comput. Mater. 11, 9 (2025)); DFT phonons of
    # graphite put this mode within a few % of experiment (Mounet & Marzari,
    # Phys. Rev. B 71, 205214 (2005))
    assert max(result.gamma_frequencies_THz) == pytest.approx(44.69, abs=0.3)
    assert max(result.gamma_frequencies_THz) == pytest.approx(g_THz, rel=0.07)
    assert result.gamma_acoustic_max_abs_THz < 0.05


def test_checkpoint_folder_of_the_signed_zero_hash_is_accepted(tmp_path):
    # folders started before 2026-12-02 name the structure by its signed-zero hash
    import json

    from alkali_layers.calculators.phonons import IDENTITY_FILE

    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.positions[0, 0] = -1e-17
    first = phonons(atoms, EMT(), supercell=(2, 2, 2), folder=tmp_path)
    identity = json.loads((tmp_path / IDENTITY_FILE).read_text())
    from alkali_layers.settings import structure_hash

    identity["structure"] = structure_hash(atoms, signed_zeros=True)
    (tmp_path / IDENTITY_FILE).write_text(json.dumps(identity))
    again = phonons(atoms, EMT(), supercell=(2, 2, 2), folder=tmp_path)
    assert again.free_energy_eV == pytest.approx(first.free_energy_eV, abs=1e-12)
