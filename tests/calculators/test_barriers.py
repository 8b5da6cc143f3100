"""Climbing-image NEB machinery (alkali_layers.calculators.barriers).

The machinery is tested with ASE's EMT on the ASE tutorial system, an Au adatom
hopping between hollow sites of Al(001) (2x2x3 slab, two bottom layers fixed).
ASE's tutorials report 0.35 eV for it with EMT from a coarse five-point scan
(https://wiki.fysik.dtu.dk/ase/tutorials/constraints/diffusion.html); the plain
``ase.mep`` CI-NEB of the tutorial converged to fmax 0.01 eV/A (QuasiNewton
endpoints, 3 images, BFGS) gives 0.3744 eV, the value pinned here.  Each EMT band
costs well under a second.
"""

import json

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc100
from ase.calculators.emt import EMT

from alkali_layers.calculators.barriers import (
    BarrierInputError,
    BarrierResult,
    barrier,
    check_endpoints,
)


def au_on_al100():
    """(initial, final, fixed): Au in two neighbouring hollows of Al(001)."""
    slab = fcc100("Al", size=(2, 2, 3))
    add_adsorbate(slab, "Au", 1.7, "hollow")
    slab.center(axis=2, vacuum=4.0)
    fixed = [i for i, atom in enumerate(slab) if atom.tag > 1]
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2
    return slab, final, fixed


def run(folder=None, **kwargs):
    initial, final, fixed = au_on_al100()
    options = dict(n_images=3, fixed=fixed, calc=EMT(), folder=folder)
    options.update(kwargs)
    return barrier(initial, final, **options)


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    """(folder, result) of the converged EMT band, computed once per module."""
    folder = tmp_path_factory.mktemp("au_al100")
    return folder, run(folder=folder)


def test_symmetric_hop_has_equal_forward_and_backward_barriers_and_tutorial_value(
    converged,
):
    _, result = converged
    assert result.converged
    assert result.fmax_eV_A < 0.05
    assert result.barrier_fwd_eV == pytest.approx(result.barrier_bwd_eV, abs=0.005)
    assert result.delta_E_eV == pytest.approx(0.0, abs=0.005)
    # plain ase.mep CI-NEB of the ASE tutorial system: 0.3744 eV (tutorial: 0.35)
    assert result.barrier_fwd_eV == pytest.approx(0.3744, abs=0.005)
    # the climbing image sits at the bridge, half way: the middle of 3 images
    assert result.saddle_index == 2
    assert result.profile_path_A[-1] == pytest.approx(result.path_A[-1])
    assert result.force_calls["mlip"] > 0
    assert np.shape(result.saddle_forces_eV_A) == (13, 3)


def test_same_barrier_from_either_end():
    initial, final, fixed = au_on_al100()
    forward = barrier(initial, final, n_images=3, fixed=fixed, calc=EMT())
    backward = barrier(final, initial, n_images=3, fixed=fixed, calc=EMT())
    assert forward.barrier_fwd_eV == pytest.approx(backward.barrier_bwd_eV, abs=0.005)
    assert forward.barrier_bwd_eV == pytest.approx(backward.barrier_fwd_eV, abs=0.005)


def test_endpoint_composition_mismatch_raises():
    initial, final, fixed = au_on_al100()
    with pytest.raises(BarrierInputError, match="composition"):
        barrier(initial, final[:-1], n_images=3, fixed=fixed, calc=EMT())
    swapped = final.copy()
    swapped.symbols[-1] = "Al"
    with pytest.raises(BarrierInputError, match="composition"):
        check_endpoints(initial, swapped)


def test_endpoint_atom_order_mismatch_raises():
    initial, final, _ = au_on_al100()
    reordered = final[[len(final) - 1] + list(range(len(final) - 1))]
    reordered.cell = final.cell
    with pytest.raises(BarrierInputError, match="different order"):
        check_endpoints(initial, reordered)


def test_identical_endpoints_raise():
    initial, _, fixed = au_on_al100()
    with pytest.raises(BarrierInputError, match="same state"):
        barrier(initial, initial.copy(), calc=EMT(), fixed=fixed)


def test_endpoint_that_is_not_a_minimum_raises():
    initial, final, fixed = au_on_al100()
    with pytest.raises(BarrierInputError, match="not a minimum"):
        barrier(
            initial, final, n_images=3, fixed=fixed, calc=EMT(), relax_endpoints=False
        )


def test_bad_settings_raise():
    initial, final, fixed = au_on_al100()
    with pytest.raises(BarrierInputError, match="NEB method"):
        barrier(initial, final, calc=EMT(), method="nudge")
    with pytest.raises(BarrierInputError, match="n_images"):
        barrier(initial, final, calc=EMT(), n_images=0)
    with pytest.raises(BarrierInputError, match="interpolation"):
        barrier(initial, final, calc=EMT(), interpolation="spline")


def test_unconverged_band_is_not_reported_as_a_barrier():
    result = run(max_steps=1)
    assert not result.converged
    assert result.barrier_fwd_eV is None and result.barrier_bwd_eV is None
    assert result.reason
    assert result.fmax_eV_A > 0.05


def test_result_round_trips_through_json(converged):
    tmp_path, result = converged
    text = json.dumps(result.to_dict())
    back = BarrierResult.from_dict(json.loads(text))
    assert back == result
    assert (tmp_path / result.images_file).exists()


def test_finished_result_is_returned_without_computing(converged):
    tmp_path, first = converged

    class Forbidden(EMT):
        def calculate(self, *args, **kwargs):
            raise AssertionError("recomputed a finished barrier")

    again = run(folder=tmp_path, calc=Forbidden())
    assert again == first


def test_interrupted_band_resumes_from_its_checkpoint(tmp_path):
    from ase.io import read

    partial = run(folder=tmp_path, max_steps=4)
    assert not partial.converged
    band = read(str(tmp_path / "band-mlip.traj"), index=":")
    counted = []

    class Counting(EMT):
        def calculate(self, atoms=None, *args, **kwargs):
            counted.append(atoms.positions.copy())
            super().calculate(atoms, *args, **kwargs)

    resumed = run(folder=tmp_path, max_steps=200, calc=Counting())
    assert resumed.converged
    # endpoints were not relaxed again, and the band started from the checkpoint
    assert np.allclose(counted[0], band[1].positions)
    assert resumed.n_steps["mlip"] > partial.n_steps["mlip"] >= 4
    assert resumed.barrier_fwd_eV == pytest.approx(0.3744, abs=0.005)


def test_dft_refinement_starts_from_the_converged_ml_band(monkeypatch):
    """The GPAW path with EMT standing in for GPAW (the plumbing, not the physics):
    the endpoints are relaxed again and the band refined from the converged ML band,
    so an engine that agrees with the ML one needs (almost) no band steps; force
    calls are counted per engine and the ML barrier is kept next to the DFT one."""
    from alkali_layers.engines import GPAWSettings
    from alkali_layers.engines import gpaw as gpaw_engine

    made = []

    def fake_gpaw_calculator(settings, atoms, txt=None, symmetry=True, **kw):
        made.append(symmetry)
        return EMT(), None

    monkeypatch.setattr(gpaw_engine, "gpaw_calculator", fake_gpaw_calculator)
    result = run(engine=GPAWSettings(), max_steps=200)
    assert result.engine == "gpaw" and result.converged and result.ml_converged
    assert set(result.force_calls) == {"mlip", "gpaw"}
    assert result.n_steps["gpaw"] <= 2 < result.n_steps["mlip"]
    assert result.force_calls["gpaw"] < result.force_calls["mlip"]
    assert result.barrier_fwd_eV == pytest.approx(result.ml_barrier_fwd_eV, abs=0.002)
    assert made and not any(made)  # symmetry off: atoms move along the band


def test_dft_only_band_starts_from_idpp_and_counts_its_band_calls(
    monkeypatch, tmp_path
):
    """``gpaw_band_start="idpp"`` (EMT standing in for GPAW): no ML band, the GPAW
    band starts from the interpolated path and reaches the same barrier; the
    band's own force calls are counted apart from the endpoints'; the ML-start
    band (same endpoints) needs fewer, which is what the benchmark compares."""
    from alkali_layers.engines import GPAWSettings
    from alkali_layers.engines import gpaw as gpaw_engine

    monkeypatch.setattr(gpaw_engine, "gpaw_calculator", lambda *a, **k: (EMT(), None))
    only = run(
        folder=tmp_path / "idpp",
        engine=GPAWSettings(),
        max_steps=300,
        gpaw_band_start="idpp",
    )
    assert only.converged and only.gpaw_band_start == "idpp"
    assert only.ml_barrier_fwd_eV is None and "mlip" not in only.n_steps
    assert "mlip" not in only.band_force_calls
    assert only.images_file == "band-gpaw-idpp.traj"
    assert (tmp_path / "idpp" / "band-gpaw-idpp.traj").exists()
    assert only.barrier_fwd_eV == pytest.approx(0.3744, abs=0.005)
    # endpoint relaxations are in force_calls, not in band_force_calls
    assert 0 < only.band_force_calls["gpaw"] < only.force_calls["gpaw"]
    staged = run(folder=tmp_path / "ml", engine=GPAWSettings(), max_steps=300)
    assert staged.gpaw_band_start == "ml"
    assert staged.band_force_calls["gpaw"] < only.band_force_calls["gpaw"]
    assert staged.barrier_fwd_eV == pytest.approx(only.barrier_fwd_eV, abs=0.005)
    # a finished DFT-only result is read back, not recomputed; the two variants
    # are told apart by their settings hash
    again = run(
        folder=tmp_path / "idpp",
        engine=GPAWSettings(),
        max_steps=300,
        gpaw_band_start="idpp",
    )
    assert again.band_force_calls == only.band_force_calls
    assert only.settings["gpaw_band_start"] == "idpp"
    assert "gpaw_band_start" not in staged.settings
    with pytest.raises(BarrierInputError, match="gpaw_band_start"):
        run(engine=GPAWSettings(), gpaw_band_start="ml-ish")


def test_a_killed_gpaw_endpoint_relaxation_resumes_from_its_last_step(
    monkeypatch, tmp_path
):
    """The GPAW endpoint relaxation appends every step to relax-gpaw-<which>.traj;
    a rerun after a kill starts from the last step, not from the ML endpoint (the
    Na interface endpoints take hours of GPAW, longer than a session).  A field
    pulling the Au atom up (EMT + 0.5 eV/A) stands in for GPAW so that the
    endpoints move."""
    from ase.io import read

    from alkali_layers.engines import GPAWSettings
    from alkali_layers.engines import gpaw as gpaw_engine

    seen, kill_after = [], [5]

    class Pulled(EMT):
        def calculate(self, atoms=None, *args, **kwargs):
            super().calculate(atoms, *args, **kwargs)
            seen.append(self.atoms.positions.copy())
            if kill_after[0] is not None and len(seen) > kill_after[0]:
                raise RuntimeError("killed")
            self.results["energy"] -= 0.5 * self.atoms.positions[-1, 2]
            self.results["forces"][-1, 2] += 0.5

    monkeypatch.setattr(
        gpaw_engine, "gpaw_calculator", lambda *a, **k: (Pulled(), None)
    )
    with pytest.raises(RuntimeError, match="killed"):
        run(folder=tmp_path, engine=GPAWSettings(), max_steps=200)
    steps = read(str(tmp_path / "relax-gpaw-initial.traj"), index=":")
    assert len(steps) >= 3
    assert steps[-1].positions[-1, 2] > steps[0].positions[-1, 2]  # it was moving
    seen.clear()
    kill_after[0] = None
    result = run(folder=tmp_path, engine=GPAWSettings(), max_steps=200)
    assert np.allclose(seen[0], steps[-1].positions)  # resumed at the last step
    assert result.converged
