import numpy as np
import pytest

from alkali_layers.builders import bulk_metal, graphite, graphite_intercalation
from alkali_layers.geometry import closest_pair


@pytest.mark.parametrize(
    "metal, stoichiometry, formula, c",
    [
        ("Li", "LiC6", "C6Li", 3.70),
        ("Na", "NaC6", "C6Na", 4.50),
        ("Na", "NaC8", "C8Na", 4.50),
        ("K", "KC8", "C8K", 5.35),
        ("Rb", "RbC8", "C8Rb", 5.65),
        ("Cs", "CsC8", "C8Cs", 5.94),
    ],
)
def test_stage1_gics(metal, stoichiometry, formula, c):
    atoms = graphite_intercalation(metal, stoichiometry)
    assert atoms.get_chemical_formula() == formula
    assert atoms.cell[2, 2] == pytest.approx(c)
    assert all(atoms.pbc)
    assert closest_pair(atoms).ratio > 0.9
    # metal halfway between the carbon planes
    z = atoms.positions[atoms.numbers != 6, 2][0]
    assert z == pytest.approx(c / 2)


def test_gic_default_stoichiometry():
    assert graphite_intercalation("Li").info["stoichiometry"] == "LiC6"
    assert graphite_intercalation("Cs").info["stoichiometry"] == "CsC8"


@pytest.mark.parametrize("bad", ["LiC12", "NaC6", "C6Li", "LiC"])
def test_gic_rejects_unknown_stoichiometry(bad):
    with pytest.raises(ValueError, match="allowed: LiC6, LiC8"):
        graphite_intercalation("Li", bad)


def test_graphite_stackings():
    ab = graphite("AB")
    assert len(ab) == 4 and ab.cell[2, 2] == pytest.approx(6.70)
    aa = graphite("AA")
    assert len(aa) == 2 and aa.cell[2, 2] == pytest.approx(3.60)


@pytest.mark.parametrize("metal, a", [("Li", 3.49), ("Na", 4.23), ("Cs", 6.05)])
def test_bulk_metal_volume_per_atom(metal, a):
    prim = bulk_metal(metal)
    cubic = bulk_metal(metal, cubic=True)
    assert len(prim) == 1 and len(cubic) == 2
    assert prim.get_volume() == pytest.approx(a**3 / 2)
    assert cubic.get_volume() / 2 == pytest.approx(a**3 / 2)
    d = cubic.get_all_distances(mic=True)
    assert d[d > 0].min() == pytest.approx(a * np.sqrt(3) / 2)
