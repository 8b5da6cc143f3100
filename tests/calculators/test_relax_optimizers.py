"""Optimizer choices of RelaxSettings: identity of stored results, bad input, and
the preconditioned ODE12r reaching BFGS's minimum."""

import pytest

from alkali_layers.builders import bilayer_graphene, bulk_metal
from alkali_layers.calculators.relax import RelaxSettings, relax


def test_default_settings_keep_the_hash_of_the_stored_table():
    # relax_settings_hash of the model rows of runs/bilayer_graphene/results.db
    assert RelaxSettings().settings_hash() == "11dd306c174f8345"
    assert RelaxSettings(precon=None).settings_hash() == "11dd306c174f8345"
    assert RelaxSettings(optimizer="ODE12r", precon="Exp").settings_hash() != (
        RelaxSettings(optimizer="ODE12r").settings_hash()
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": "ODE12r", "precon": "FF"}, "unknown precon 'FF'"),
        ({"optimizer": "BFGS", "precon": "Exp"}, "needs a preconditioned optimizer"),
        ({"optimizer": "CG"}, "unknown optimizer 'CG'"),
    ],
)
def test_bad_optimizer_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RelaxSettings(**kwargs)


def test_precon_lbfgs_refuses_a_cell_relaxation_with_its_reason(mlip):
    with pytest.raises(ValueError, match="PreconLBFGS cannot relax the cell"):
        relax(bulk_metal("Na"), mlip, RelaxSettings(optimizer="PreconLBFGS"))


@pytest.mark.slow  # two relaxations, ~70 force calls (88 s at load 7 on 2 cores)
def test_preconditioned_ode12r_reaches_the_bfgs_minimum(mlip):
    """C6LiC6 (13 atoms), rattled: the same minimum as BFGS within 1 meV/atom,
    converged to the same fmax (the Exp preconditioner is applied: fixed cell)."""
    settings = RelaxSettings(optimizer="ODE12r", precon="Exp")
    atoms = bilayer_graphene("Li", 1, "AA")
    atoms.rattle(0.03, seed=3)  # off the symmetric start: a real relaxation
    ref = relax(atoms, mlip, RelaxSettings())
    other = relax(atoms, mlip, settings)
    assert other.converged and other.fmax_eV_A <= settings.fmax_eV_A
    assert other.n_steps > 0
    assert abs(other.energy_eV - ref.energy_eV) / len(atoms) < 1e-3
