"""The ``compiled`` ML engine: ``torch.compile`` of the same network."""

import numpy as np
import pytest

from alkali_layers.builders import bilayer_graphene
from alkali_layers.engines import MLIPSettings, make_calculator


def test_compiled_enters_the_hash_only_when_set():
    assert MLIPSettings(compiled=False).settings_hash() == (
        MLIPSettings().settings_hash()
    )
    assert MLIPSettings(compiled=True).settings_hash() != (
        MLIPSettings().settings_hash()
    )
    assert "torch.compile" in MLIPSettings(compiled=True).describe()
    assert "torch.compile" not in MLIPSettings().describe()
    with pytest.raises(ValueError, match="compiled must be true or false"):
        MLIPSettings(compiled="yes")


@pytest.mark.slow  # a cold torch.compile of 7net-0: ~6 min on 2 shared cores
def test_compiled_network_gives_the_eager_energies_and_forces():
    eager = make_calculator("mlip", dispersion="none", threads=1)
    compiled = make_calculator("mlip", dispersion="none", threads=1, compiled=True)
    for n in (1, 2):  # two sizes: dynamic shapes, no recompilation needed
        atoms = bilayer_graphene("Na", n, "AA")
        atoms.rattle(0.01, seed=n)
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = eager, compiled
        assert b.get_potential_energy() == pytest.approx(
            a.get_potential_energy(), abs=1e-3
        )
        assert np.abs(b.get_forces() - a.get_forces()).max() < 1e-3
