"""The gallery height as a relaxation coordinate (calculators/gallery.py)."""

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from alkali_layers.builders import bilayer_graphene, bulk_metal
from alkali_layers.calculators.gallery import GalleryCoordinate
from alkali_layers.calculators.relax import RelaxSettings, relax
from alkali_layers.geometry import gallery_force_eV_A, gallery_height


class SheetSpring(Calculator):
    """Toy engine: E = K (h - h0)^2 / 2 (eV) on the gallery height h (mean z of the
    top sheet minus mean z of the bottom sheet), shared by the sheet atoms: each of
    them feels K (h - h0) / n_sheet, the sheet as a whole K (h - h0).  The soft
    collective coordinate of a real bilayer, with nothing else to relax."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, h0, stiffness_eV_A2):
        super().__init__()
        self.h0, self.k = h0, stiffness_eV_A2

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        tags = atoms.get_tags()
        d = gallery_height(atoms) - self.h0
        forces = np.zeros((len(atoms), 3))
        for tag, sign in ((2, -1.0), (1, 1.0)):
            on = tags == tag
            forces[on, 2] = sign * self.k * d / on.sum()
        self.results = {
            "energy": 0.5 * self.k * d**2,
            "forces": forces,
            "stress": np.zeros(6),
        }


def _off_by(atoms, offset_A, stiffness=0.12):
    return SheetSpring(gallery_height(atoms) - offset_A, stiffness)


def test_per_atom_criterion_alone_leaves_the_gallery_unrelaxed():
    # 6 C per sheet, K = 0.12 eV/A^2, 1 A off: 0.02 eV/A per atom, 0.12 on the sheet
    atoms = bilayer_graphene("Na", 1, "AA")
    calc = _off_by(atoms, 1.0)
    plain = relax(atoms, calc, RelaxSettings(fmax_eV_A=0.05, gallery_prescan=False))
    assert plain.converged and plain.n_steps == 0
    assert gallery_height(plain.atoms) == pytest.approx(gallery_height(atoms))
    assert gallery_force_eV_A(plain.atoms, plain.atoms.get_forces()) == pytest.approx(
        -0.12
    )


@pytest.mark.parametrize("cell_mode", ["fixed", "ab"])
def test_gallery_coordinate_relaxes_the_net_sheet_force_below_fmax(cell_mode):
    atoms = bilayer_graphene("Na", 1, "AA")
    h0 = gallery_height(atoms) - 1.0
    calc = SheetSpring(h0, 0.12)
    settings = RelaxSettings(
        fmax_eV_A=0.01, gallery_prescan=False, gallery_coordinate=True
    )
    result = relax(atoms, calc, settings, cell_mode=cell_mode)
    assert result.converged and result.n_steps > 0
    force = gallery_force_eV_A(result.atoms, result.atoms.get_forces())
    assert abs(force) < 0.01
    # |F| = K |h - h0| < fmax puts h within fmax / K = 0.083 A of the minimum
    assert gallery_height(result.atoms) == pytest.approx(h0, abs=0.01 / 0.12)
    assert result.fmax_eV_A < 0.01  # the reported fmax covers the gallery row
    # the sheets moved rigidly and symmetrically; the metal stayed
    tags = atoms.get_tags()
    dz = result.atoms.positions[:, 2] - atoms.positions[:, 2]
    assert np.allclose(dz[tags == 2], dz[tags == 2][0], atol=1e-6)
    assert dz[tags == 2][0] == pytest.approx(-dz[tags == 1][0], abs=1e-6)
    assert np.allclose(dz[tags >= 11], 0.0)


def test_gallery_coordinate_round_trips_positions_and_adds_the_sheet_force():
    atoms = bilayer_graphene("Na", 1, "AA")
    atoms.calc = _off_by(atoms, 0.5)
    coord = GalleryCoordinate(atoms, atoms)
    assert len(coord) == len(atoms) + 1
    x = coord.get_positions()
    x[-1, 2] = 0.3  # open the gallery by 0.3 A
    coord.set_positions(x)
    assert np.allclose(coord.get_positions(), x)
    assert gallery_height(atoms) == pytest.approx(
        gallery_height(bilayer_graphene("Na", 1, "AA")) + 0.3
    )
    forces = coord.get_forces()
    assert forces[-1, 2] == pytest.approx(gallery_force_eV_A(atoms, forces[:-1]))
    assert forces[-1, 2] == pytest.approx(-0.12 * 0.8)


def test_models_without_a_gallery_relax_as_before(mlip):
    a = relax(bulk_metal("Na"), mlip, RelaxSettings(fmax_eV_A=0.01))
    b = relax(
        bulk_metal("Na"), mlip, RelaxSettings(fmax_eV_A=0.01, gallery_coordinate=True)
    )
    assert b.energy_eV == pytest.approx(a.energy_eV, abs=1e-9)
    assert b.n_steps == a.n_steps
    with pytest.raises(ValueError, match="no bottom and top carbon sheet"):
        GalleryCoordinate(bulk_metal("Na"), bulk_metal("Na"))


def test_gallery_coordinate_on_the_fast_engine(mlip):
    # Na x 1 layer (13 atoms) with the top sheet lifted by 1.1 A: both criteria met
    # at the end (7net-0's surface is flat out there: it stops at ~5.5 A, measured)
    atoms = bilayer_graphene("Na", 1, "AA")
    atoms.positions[atoms.get_tags() == 2, 2] += 1.1
    settings = RelaxSettings(
        fmax_eV_A=0.05, gallery_prescan=False, gallery_coordinate=True
    )
    result = relax(atoms, mlip, settings)
    assert result.converged and result.n_steps > 0
    assert abs(gallery_force_eV_A(result.atoms, result.atoms.get_forces())) < 0.05


def test_gallery_coordinate_settings():
    assert "gallery_coordinate" not in RelaxSettings().key_dict()
    assert RelaxSettings(gallery_coordinate=True).settings_hash() != (
        RelaxSettings().settings_hash()
    )
    assert RelaxSettings().describe() == (
        "BFGS, fmax 0.02 eV/A, at most 500 steps, rigid gallery pre-scan"
    )
    assert (
        RelaxSettings(gallery_coordinate=True, slab_cell="ab", gallery_prescan=False)
        .describe()
        .endswith("in-plane cell relaxed, gallery height relaxed as a coordinate")
    )
    with pytest.raises(ValueError, match="gallery_coordinate needs"):
        RelaxSettings(optimizer="ODE12r", gallery_coordinate=True)


class SheetSpringInCell(SheetSpring):
    """SheetSpring plus an in-plane cell term with its minimum at the built cell."""

    def __init__(self, h0, stiffness_eV_A2, area0):
        super().__init__(h0, stiffness_eV_A2)
        self.area0 = area0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        area = np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))
        self.results["energy"] += 10.0 * (area / self.area0 - 1.0) ** 2


def test_the_dft_path_relaxes_the_gallery_after_its_cell_scan():
    # GPAW cells go through scan_cell_relax (energy scan, then atoms at fixed cell):
    # the gallery coordinate must survive into that position relaxation
    from alkali_layers.calculators.relax import scan_cell_relax

    atoms = bilayer_graphene("Na", 1, "AA")
    area0 = np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))
    h0 = gallery_height(atoms) - 1.0
    settings = RelaxSettings(
        fmax_eV_A=0.01, gallery_prescan=False, gallery_coordinate=True
    )
    result = scan_cell_relax(atoms, SheetSpringInCell(h0, 0.12, area0), settings, "ab")
    assert result.converged and result.cell_mode == "ab"
    assert gallery_height(result.atoms) == pytest.approx(h0, abs=0.01 / 0.12)
    plain = scan_cell_relax(
        atoms,
        SheetSpringInCell(h0, 0.12, area0),
        RelaxSettings(fmax_eV_A=0.05, gallery_prescan=False),
        "ab",
    )
    assert gallery_height(plain.atoms) == pytest.approx(h0 + 1.0, abs=1e-6)
