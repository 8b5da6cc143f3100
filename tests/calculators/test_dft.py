"""GPAW engine wiring with tiny settings (seconds each): not converged physics."""

from dataclasses import replace

import numpy as np
import pytest

from alkali_layers.builders import bilayer_graphene, bulk_metal, graphite
from alkali_layers.calculators.guards import (
    ENERGY_PER_ATOM_BOUNDS_EV,
    ModelFailure,
    check_energy,
    energy_bounds,
)
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.calculators.staged import dft_single_point, staged_relax
from alkali_layers.engines import (
    PBE_D3BJ,
    PRESETS,
    DFTProtocol,
    GPAWSettings,
    MLIPSettings,
    gpaw_settings,
    make_calculator,
)
from alkali_layers.engines.gpaw import (
    SCF_STALL_ITERATIONS,
    SCFCounter,
    SCFStallGuard,
    gpaw_calculator,
    isolated_atom,
    isolated_atom_energy,
    kpoint_grid,
    vacuum_axes,
    with_scf_retry,
)
from alkali_layers.engines.settings import energy_settings

pytest.importorskip("gpaw")

#: far from converged on purpose: these tests check wiring, not numbers
#: PBE + D3(BJ) (not the default vdW-optPBE): the cheaper treatment for wiring tests
TINY = GPAWSettings(
    ecut_eV=250.0, kpt_density=1.5, scf_energy_eV=1e-4, scf_density=1e-3, **PBE_D3BJ
)


def test_settings_hash_identity_and_presets():
    assert TINY.settings_hash() == GPAWSettings(**vars(TINY)).settings_hash()
    assert TINY.settings_hash() != GPAWSettings(ecut_eV=251.0).settings_hash()
    assert PRESETS["final"].ecut_eV > PRESETS["fast"].ecut_eV
    assert gpaw_settings("fast", xc="vdW-DF2", dispersion="none").xc == "vdW-DF2"
    protocol = DFTProtocol(final=TINY, relax=TINY, prerelax=MLIPSettings())
    assert protocol.settings_hash() != DFTProtocol(TINY, TINY, None).settings_hash()
    assert DFTProtocol.from_dict(protocol.to_dict()) == protocol


def test_the_stored_energy_comes_from_the_final_stage_or_the_engine_itself():
    relax = replace(TINY, ecut_eV=200.0)
    assert energy_settings(DFTProtocol(final=TINY, relax=relax, prerelax=None)) is TINY
    assert energy_settings(relax) is relax
    ml = MLIPSettings()
    assert energy_settings(ml) is ml


def test_default_treatment_is_vdw_optpbe_and_the_old_one_keeps_its_identity():
    """The default is vdW-optPBE with Li 1s in the valence (runs/validation); the
    pinned PBE + D3(BJ) fields reproduce the settings hash under which the PBE + D3(BJ)
    bilayer table was stored (runs/bilayer_graphene_dft/pbe_d3bj/table.md)."""
    default = GPAWSettings()
    assert (default.xc, default.dispersion, default.setups) == (
        "optPBE-vdW",
        "none",
        "li-sc",
    )
    assert PRESETS["final"].xc == "optPBE-vdW"
    assert "Li 1s in valence" in default.describe()
    old = DFTProtocol.from_table({**PBE_D3BJ, "final": "final", "relax": "fast"})
    assert old.settings_hash() == "dfda47f8f9d0302e"
    assert DFTProtocol.from_table({}).settings_hash() != old.settings_hash()
    # plain PBE is allowed, but only by naming it: no dispersion is added silently
    assert GPAWSettings(xc="PBE").describe().startswith("GPAW PW 500 eV, PBE, k")


def test_references_get_dense_kpoints_but_the_same_cutoff():
    protocol = DFTProtocol(final=TINY, relax=TINY, prerelax=None)
    ref = protocol.for_reference()
    assert ref.final.kpt_density == ref.relax.kpt_density == 10.0
    assert ref.final.ecut_eV == TINY.ecut_eV
    assert ref.settings_hash() != protocol.settings_hash()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(xc="vdW-DF2", dispersion="d3bj"), "set dispersion='none'"),
        (dict(xc="LDA"), "allowed: PBE, vdW-DF2"),
        (dict(ecut_eV=-1), "positive"),
        (dict(mixer="fast"), "allowed: default, conservative"),
    ],
)
def test_bad_gpaw_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPAWSettings(**kwargs)


def test_optb88_is_refused_on_cells_with_vacuum_but_allowed_for_bulk():
    settings = GPAWSettings(**{**vars(TINY), "xc": "optB88-vdW", "dispersion": "none"})
    with pytest.raises(ValueError, match="diverges on cells with vacuum"):
        gpaw_calculator(settings, bilayer_graphene("Li", 1, "AA"))
    with pytest.raises(ValueError, match="diverges on cells with vacuum"):
        gpaw_calculator(settings, isolated_atom("Li"), isolated=True)
    calc, dft = gpaw_calculator(settings, graphite("AB"))
    assert "optB88-vdW" in str(dft.parameters.xc)


def test_kpoints_follow_the_density_with_one_kpoint_across_vacuum():
    slab = bilayer_graphene("Li", 1, "AA")
    assert vacuum_axes(slab) == [False, False, True]
    nx, ny, nz = kpoint_grid(slab, 4.0)
    assert nx == ny > 1 and nz == 1
    # graphene in-plane: |b| = 1/(a sin60) = 0.4694/A -> ceil(2 pi 0.4694 4 / sqrt3)
    bulk = graphite("AB")
    grid = kpoint_grid(bulk, 4.0)
    assert grid[2] > 1 and grid[0] == grid[1]
    assert kpoint_grid(isolated_atom("Na"), 4.0) == (1, 1, 1)


def _energy(atoms, settings):
    calc, _ = gpaw_calculator(settings, atoms)
    atoms.calc = calc
    return atoms.get_potential_energy()


@pytest.mark.slow  # GPAW SCF
def test_d3_is_really_included_a_bilayer_binds_with_d3_and_not_without():
    near = bilayer_graphene(None, 0, "AB", gallery_height_A=3.4, vacuum=6.0)
    far = bilayer_graphene(None, 0, "AB", gallery_height_A=6.5, vacuum=6.0)
    far.cell = near.cell  # same cell and k points, only the spacing differs
    far.center(axis=2)
    plain = GPAWSettings(**{**vars(TINY), "dispersion": "none"})
    binding_d3 = (_energy(far, TINY) - _energy(near, TINY)) / len(near)
    binding_pbe = (_energy(far.copy(), plain) - _energy(near.copy(), plain)) / len(near)
    # measured with these settings: D3 +23 meV/atom (a bilayer has half of graphite's
    # ~50 meV/atom, docs/science/energies.md), plain PBE -4 meV/atom (repulsive)
    assert binding_d3 > 0.015  # eV/atom: the sheets bind with D3
    assert binding_pbe < 0.005  # plain PBE does not bind them
    assert binding_d3 - binding_pbe > 0.02


@pytest.mark.slow  # GPAW SCF, vdW-DF kernel and a generated Li setup (~1 min)
def test_default_treatment_runs_on_a_lithium_bilayer_with_vacuum(tmp_path, monkeypatch):
    """The default (vdW-optPBE, Li 1s in the valence) on a cell with vacuum: the
    generated Li.sc setup is used (3 valence electrons per Li, 4 per C) and the
    energy and forces are finite."""
    monkeypatch.setenv("ALKALI_LAYERS_SETUP_DIR", str(tmp_path))
    atoms = bilayer_graphene("Li", 1, "AA", vacuum=6.0)
    settings = replace(GPAWSettings(), ecut_eV=250.0, kpt_density=1.5)
    settings = replace(settings, scf_energy_eV=1e-3, scf_density=1e-3)
    calc, dft = gpaw_calculator(settings, atoms)
    assert calc is dft  # no dispersion term on top of the vdW-DF functional
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    assert np.isfinite(energy) and np.isfinite(atoms.get_forces()).all()
    n_li = atoms.get_chemical_symbols().count("Li")
    n_c = atoms.get_chemical_symbols().count("C")
    assert dft.wfs.nvalence == pytest.approx(3 * n_li + 4 * n_c)
    assert (tmp_path / "Li.sc.revPBE").exists()


@pytest.mark.slow  # GPAW SCF
def test_isolated_atom_is_spin_polarized():
    atoms = isolated_atom("Na", box_A=8.0)
    calc, dft = gpaw_calculator(TINY, atoms, spinpol=True, isolated=True)
    atoms.calc = calc
    e_spin = atoms.get_potential_energy()
    assert dft.get_magnetic_moment() == pytest.approx(1.0, abs=0.02)
    unpolarized = isolated_atom("Na", box_A=8.0)
    calc, _ = gpaw_calculator(TINY, unpolarized, isolated=True)
    unpolarized.calc = calc
    assert e_spin < unpolarized.get_potential_energy()
    assert isolated_atom_energy("Na", TINY, box_A=8.0) == pytest.approx(
        e_spin, abs=1e-6
    )


def _scf(guarded, errors, fixed=False):
    """Feed the density errors of one SCF to the scf_step hook of ``guarded``."""
    from types import SimpleNamespace

    for niter, error in enumerate(errors, start=1):
        dens = SimpleNamespace(error=error, fixed=fixed)
        guarded.hooks["scf_step"](SimpleNamespace(niter=niter, dens=dens))


def test_a_stalled_scf_is_stopped_early_and_a_converging_one_is_not():
    """An SCF whose density error has not reached a new minimum for
    SCF_STALL_ITERATIONS iterations is stopped; the slowest converging SCF measured
    (runs/bilayer_graphene_dft/logs: the BEEF-vdW SCF of Na 3L, log10 density errors
    of its first 19 iterations, 5 without a new minimum) is not, nor is one with the
    first iteration's missing error or a fixed density (0), and each SCF of a
    relaxation starts afresh."""
    from types import SimpleNamespace

    from gpaw import ConvergenceError

    na3l = [None, -0.87, -0.92, -0.61, -0.88, -0.89, -1.00, -1.21, -1.12, -1.30,
            -1.11, -0.68, -0.45, -1.01, -1.24, -1.47, -1.63, -1.65, -1.95]  # fmt: skip
    dft = SimpleNamespace(hooks={})
    SCFStallGuard(dft)
    _scf(dft, [None if e is None else 10.0**e for e in na3l])  # converging: no stop

    stalled = na3l[:15] + [-1.2, -1.1, -0.9, -1.0]  # the same, never below 10^-1.30
    errors = [None if e is None else 10.0**e for e in stalled]
    dft = SimpleNamespace(hooks={})
    SCFStallGuard(dft)  # installed first, as gpaw_calculator does
    counter = SCFCounter(dft)  # chained later, yet counts the stopping iteration
    with pytest.raises(ConvergenceError, match="SCF stalled.*best 5.01e-02 at it"):
        _scf(dft, errors)
    assert counter.iterations == 10 + SCF_STALL_ITERATIONS  # best at iteration 10

    converging = [None, 0.1, 0.12, 0.13, 0.14, 0.09, 0.05, 0.01, 1e-3, 1e-4, 1e-5]
    dft = SimpleNamespace(hooks={})
    SCFStallGuard(dft)
    for _ in range(3):  # three SCFs of a relaxation, each ending far below the start
        _scf(dft, converging)
    _scf(dft, [0.0] * 20)  # no density change: nothing to follow
    _scf(dft, [0.1] * 20, fixed=True)  # a fixed density (non-self-consistent)


@pytest.mark.slow  # GPAW SCF
def test_scf_failure_is_retried_then_reported_never_stored():
    tried = []

    def attempt(settings):
        tried.append(settings.mixer)
        atoms = bulk_metal("Na")
        calc, _ = gpaw_calculator(settings, atoms)
        atoms.calc = calc
        return atoms.get_potential_energy()

    hopeless = GPAWSettings(**{**vars(TINY), "maxiter": 2, "scf_energy_eV": 1e-9})
    with pytest.raises(ModelFailure, match="retried with conservative mixing"):
        with_scf_retry(hopeless, attempt)
    assert tried == ["default", "conservative"]


@pytest.mark.slow  # GPAW SCF
def test_staged_relaxation_of_bulk_sodium(tmp_path):
    protocol = DFTProtocol(final=TINY, relax=TINY, prerelax=MLIPSettings())
    result = staged_relax(
        bulk_metal("Na"), protocol, RelaxSettings(fmax_eV_A=0.05), folder=tmp_path
    )
    assert result.converged and np.isfinite(result.energy_eV)
    assert result.prerelax is not None and result.scf_iterations["final"] > 0
    assert (tmp_path / "gpaw-relax.txt").exists() and (
        tmp_path / "gpaw-final.txt"
    ).exists()
    a = np.cbrt(2 * result.atoms.get_volume())
    assert 3.7 < a < 4.5  # bcc Na, tiny settings
    # one atom: the cell scan keeps bcc point-group symmetry (48 operations) and its
    # irreducible k-points; relaxations of cells whose atoms move switch it off
    log = (tmp_path / "gpaw-relax.txt").read_text()
    assert "Number of symmetries: 48" in log and "Number of symmetries: 1\n" not in log


def test_make_calculator_gpaw_needs_atoms():
    with pytest.raises(ValueError, match="needs atoms"):
        make_calculator("gpaw", "final")
    with pytest.raises(ValueError, match="allowed: final, fast"):
        make_calculator("gpaw", "ultra", atoms=bulk_metal("Na"))


@pytest.mark.slow  # GPAW SCF
def test_convergence_scan_reports_errors_and_resumes_from_checkpoint(
    tmp_path, monkeypatch
):
    from alkali_layers.workflows import convergence

    atoms = bulk_metal("Na")
    checkpoint = tmp_path / "points.csv"
    points = convergence.convergence_scan(
        atoms, TINY, (200.0, 250.0), (1.5, 2.0), checkpoint=checkpoint
    )
    # cutoff 200, 250 at the densest k, then k 1.5 at the highest cutoff
    assert [(p.scan, p.ecut_eV, p.kpt_density) for p in points] == [
        ("cutoff", 200.0, 2.0),
        ("cutoff", 250.0, 2.0),
        ("kpoints", 250.0, 1.5),
    ]
    best = points[1]
    assert best.dE_meV_per_atom == 0.0
    for p in points:
        assert p.dE_meV_per_atom == pytest.approx(
            1000 * (p.energy_eV_per_atom - best.energy_eV_per_atom)
        )
    # an interrupted scan resumes: nothing is recomputed
    monkeypatch.setattr(
        convergence,
        "single_point",
        lambda *a, **k: pytest.fail("recomputed a checkpointed point"),
    )
    again = convergence.convergence_scan(
        atoms, TINY, (200.0, 250.0), (1.5, 2.0), checkpoint=checkpoint
    )
    assert [p.energy_eV_per_atom for p in again] == pytest.approx(
        [p.energy_eV_per_atom for p in points]
    )
    # other base settings do not reuse the points
    other = GPAWSettings(**{**vars(TINY), "smearing_eV": 0.2})
    with pytest.raises(pytest.fail.Exception):
        convergence.convergence_scan(
            atoms, other, (200.0, 250.0), (1.5, 2.0), checkpoint=checkpoint
        )


@pytest.mark.slow  # GPAW SCF
def test_interrupted_gpaw_relaxation_resumes_from_its_trajectory(tmp_path):
    from ase.io import Trajectory

    atoms = bilayer_graphene("Li", 1, "AA")
    atoms.positions[-1, 0] += 0.3  # Li off its hollow: forces to relax
    protocol = DFTProtocol(final=TINY, relax=TINY, prerelax=None)
    capped = RelaxSettings(fmax_eV_A=0.01, max_steps=2, gallery_prescan=False)
    first = staged_relax(atoms, protocol, capped, folder=tmp_path)
    assert first.resumed_steps == 0 and not first.converged
    with Trajectory(str(tmp_path / "gpaw-relax.traj")) as traj:
        n_frames = len(traj)
    assert n_frames == 3  # start + 2 steps
    # a rerun (e.g. after a kill) starts at the last recorded step, not the builder:
    # its first energy is the last one of the interrupted run
    again = staged_relax(atoms, protocol, capped, folder=tmp_path)
    assert again.resumed_steps == n_frames
    assert again.prerelax is None
    log = [
        float(line.split()[3])
        for line in (tmp_path / "relax.log").read_text().splitlines()
        if line.startswith("BFGS:")
    ]
    assert len(log) == 6 and log[3] == pytest.approx(log[2], abs=1e-5)
    assert log[3] != pytest.approx(log[0], abs=1e-3)
    with Trajectory(str(tmp_path / "gpaw-relax.traj")) as traj:
        assert len(traj) > n_frames  # the resumed run appends
    # a truncated file (killed while writing) or another structure: start afresh
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "gpaw-relax.traj").write_bytes(b"- 8< -")
    from alkali_layers.calculators.staged import last_frame

    assert last_frame(tmp_path / "other" / "gpaw-relax.traj", atoms) == (None, 0)
    assert last_frame(tmp_path / "gpaw-relax.traj", bulk_metal("Na")) == (None, 0)


def test_energy_window_follows_the_functional():
    """PBE (+ D3) energies are relative to PBE reference atoms and keep the sane
    window; vdW-DF2 energies are offset by the functional difference on the PBE
    setups' atoms, so only finiteness is checked for them."""
    k = bulk_metal("K")
    pbe, _ = gpaw_calculator(TINY, k)
    vdw, _ = gpaw_calculator(gpaw_settings("fast", xc="vdW-DF2", dispersion="none"), k)
    assert energy_bounds(pbe) == ENERGY_PER_ATOM_BOUNDS_EV
    assert energy_bounds(vdw) is None
    check_energy(-35.1, 1, "vdW-DF2 bcc K", energy_bounds(vdw))  # accepted
    with pytest.raises(ModelFailure, match="outside the sane range"):
        check_energy(-35.1, 1, "PBE", energy_bounds(pbe))
    with pytest.raises(ModelFailure, match="energy is nan"):
        check_energy(float("nan"), 1, "vdW-DF2", energy_bounds(vdw))


@pytest.mark.slow  # GPAW SCF
def test_vdw_df2_bcc_potassium_passes_the_guards():
    """Regression: the validation's vdW-DF2 bcc K failed with 'energy -35.13 eV/atom
    outside the sane range' although GPAW had converged."""
    settings = replace(TINY, xc="vdW-DF2", dispersion="none")
    energy, _, _, _ = dft_single_point(bulk_metal("K"), settings)
    assert energy < ENERGY_PER_ATOM_BOUNDS_EV[0]  # the offset that tripped the guard


def test_resumed_relaxation_keeps_its_scanned_cell_instead_of_scanning_again(
    tmp_path, monkeypatch
):
    """A DFT relaxation scans the cell, then relaxes the atoms with every step in
    its trajectory; a rerun resumes from the last step, whose cell is the scanned
    one, so it must not pay for the scan again (measured before: 5-7 GPAW single
    points at k-point density 10, ~25 min, on every resume of a bilayer reference).
    A volume well stands in for GPAW."""
    from ase.calculators.calculator import Calculator, all_changes

    from alkali_layers.calculators import staged

    calls = []

    class VolumeWell(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), changes=all_changes):
            super().calculate(atoms, properties, changes)
            calls.append(atoms.get_volume())
            v = atoms.get_volume() / len(atoms)
            self.results = {
                "energy": len(atoms) * (-1.0 + 0.01 * (v - 40.0) ** 2),
                "forces": np.zeros((len(atoms), 3)),
            }

    class Hooks:
        hooks: dict = {}

    monkeypatch.setattr(
        staged, "gpaw_calculator", lambda *a, **k: (VolumeWell(), Hooks())
    )
    atoms = bulk_metal("Na")  # 1 atom, ~37.9 A^3: hydrostatic scan
    protocol = DFTProtocol(final=TINY, relax=TINY, prerelax=None)
    settings = RelaxSettings(fmax_eV_A=0.05, gallery_prescan=False)
    first = staged_relax(atoms, protocol, settings, folder=tmp_path)
    n_first = len(calls)
    assert n_first >= 6  # the scan's single points, the relaxation, the final one
    assert first.atoms.get_volume() == pytest.approx(40.0, rel=1e-3)
    calls.clear()
    again = staged_relax(atoms, protocol, settings, folder=tmp_path)
    assert again.resumed_steps >= 1
    assert len(calls) <= 2  # one relaxation step and the final single point
    assert again.atoms.get_volume() == pytest.approx(first.atoms.get_volume())
    assert again.relaxed.cell_mode == "hydrostatic"
