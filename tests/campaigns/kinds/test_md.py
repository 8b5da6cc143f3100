"""The ``md_diffusion`` task kind: options, mobile atoms and a tiny EMT run."""

import numpy as np
import pytest
from ase.build import fcc100
from ase.calculators.emt import EMT

from alkali_layers.builders.pathways import interface_vacancy_hop, migration_path
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.campaigns.kinds.md import MDOptions, mobile_atoms, run_md_diffusion
from alkali_layers.campaigns.registry import BUILDERS, task_kind
from alkali_layers.campaigns.tasks import RelaxTask
from alkali_layers.geometry import TAG_METAL_FIRST_LAYER


def test_kind_and_builder_are_registered_with_checked_options():
    assert task_kind("md_diffusion").options is MDOptions
    assert BUILDERS["md_path"] is migration_path
    assert MDOptions(temperatures_K=[900]).temperatures_K == [900.0]
    with pytest.raises(ValueError, match="positive"):
        MDOptions(temperatures_K=[-5])
    with pytest.raises(ValueError, match="multiple of chunk_steps"):
        MDOptions(n_production=150)
    with pytest.raises(ValueError, match="timestep"):
        MDOptions(timestep_fs=10)


def test_mobile_atoms_of_an_interface_vacancy_are_its_free_layer():
    atoms = migration_path("interface_vacancy_hop", "Na")
    mobile = mobile_atoms(atoms)
    initial, _ = interface_vacancy_hop("Na")
    tags = initial.get_tags()
    assert atoms.info["hop_atom"] in mobile
    assert all(tags[i] == TAG_METAL_FIRST_LAYER for i in mobile)
    assert not set(mobile) & set(atoms.info["neb_fixed"])
    # the adatom paths follow the hopping atom alone
    assert mobile_atoms(migration_path("graphene_hop", "Li")) == [
        migration_path("graphene_hop", "Li").info["hop_atom"]
    ]


def test_md_task_runs_resumes_and_reports_d(tmp_path):
    # Al(001) slab with an Au adatom, EMT: the kind's machinery in a second
    slab = fcc100("Al", size=(2, 2, 2), vacuum=5.0)
    slab += slab[-1:]
    slab[-1].symbol = "Au"
    slab.positions[-1] += [slab.cell[0, 0] / 4, slab.cell[1, 1] / 4, 1.8]
    fixed = [i for i in range(len(slab) - 1) if slab.positions[i, 2] < 6.0]
    slab.info.update(
        pathway="graphene_hop",  # z = 6, d = 2, an atom (only the geometry is used)
        hop_atom=len(slab) - 1,
        hop_target_A=(slab.positions[-1] + [slab.cell[0, 0] / 2, 0, 0]).tolist(),
        hop_length_A=slab.cell[0, 0] / 2,
        neb_fixed=fixed,
    )
    options = dict(
        temperatures_K=[300.0],
        n_equilibrate=20,
        n_production=60,
        chunk_steps=20,
        interval=1,
    )
    task = RelaxTask("au", "model", slab, {}, kind="md_diffusion", options=options)
    settings = RelaxSettings(fmax_eV_A=0.05, max_steps=200)
    outcome = run_md_diffusion(task, None, EMT(), settings, tmp_path)
    assert outcome.ok
    run = outcome.data["runs"][0]
    assert run["duration_ps"] == pytest.approx(0.118)
    assert np.isfinite(outcome.values["md_D_300K_cm2_s"])
    assert outcome.values["md_hops_300K"] == 0  # 300 K, 0.12 ps: no hop
    again = run_md_diffusion(task, None, None, settings, tmp_path)  # all stored
    assert again.data["runs"][0] == run
