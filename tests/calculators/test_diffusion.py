"""Harmonic TST (Vineyard) and MD diffusion (alkali_layers.calculators.diffusion).

Reference numbers are computed by hand in the comments:

* frequency unit: an eigenvalue of 1 eV/(A^2 amu) of the mass-weighted Hessian is
  omega = sqrt(1.602176634e-19 J / (1e-20 m^2 * 1.66053906660e-27 kg))
  = 9.82269e13 rad/s, i.e. nu = omega / 2 pi = 15.6334 THz;
* a particle of mass m in V(x) = (E_a / 2) (1 - cos(2 pi x / a)) has the curvature
  V'' = 2 pi^2 E_a / a^2 at the minimum, so nu_x = sqrt(2 pi^2 E_a / (m a^2)) x
  15.6334 THz (V'' in eV/A^2, m in amu); at the saddle x = a / 2 the curvature is
  -V'' (the unstable mode) and the y, z modes (springs) are unchanged, so
  Vineyard's prefactor is nu_x(min) exactly.
"""

import math

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from alkali_layers.calculators.barriers import barrier
from alkali_layers.calculators.diffusion import (
    THZ_PER_SQRT_EV_A2_AMU,
    DiffusionInputError,
    diffusion_coefficient_cm2_s,
    frequencies_from_hessian,
    hessian_indices,
    hop_rate_per_s,
    htst,
    md_run,
    mode_frequencies,
    msd_analysis,
    read_md,
    vineyard_prefactor,
)

from .test_barriers import au_on_al100


class CosineChannel(Calculator):
    """One atom in a cosine potential along x (period a, height E_a) with harmonic
    springs along y and z (k_y, k_z in eV/A^2)."""

    implemented_properties = ("energy", "forces")

    def __init__(self, barrier_eV, period_A, k_y, k_z):
        super().__init__()
        self.ea, self.a, self.ky, self.kz = barrier_eV, period_A, k_y, k_z

    def calculate(self, atoms=None, properties=("energy",), changes=all_changes):
        super().calculate(atoms, properties, changes)
        x, y, z = self.atoms.positions[0]
        q = 2 * math.pi / self.a
        e = 0.5 * self.ea * (1 - math.cos(q * x)) + 0.5 * (
            self.ky * y**2 + self.kz * z**2
        )
        f = [-0.5 * self.ea * q * math.sin(q * x), -self.ky * y, -self.kz * z]
        self.results = {"energy": e, "forces": np.array([f])}


def test_frequency_unit_is_15_633_THz_per_sqrt_eV_A2_amu():
    assert THZ_PER_SQRT_EV_A2_AMU == pytest.approx(15.6334, abs=1e-3)
    # one atom of 1 amu on a 1 eV/A^2 spring in x, y, z
    freqs = frequencies_from_hessian(np.eye(3), np.array([1.0]))
    assert freqs == pytest.approx([15.6334] * 3, abs=1e-3)
    # an eigenvalue -4 eV/(A^2 amu) is the imaginary frequency 2 x 15.633 THz
    freqs = frequencies_from_hessian(np.diag([-4.0, 1.0, 1.0]), np.array([1.0]))
    assert freqs[0] == pytest.approx(-31.267, abs=1e-3)


def test_translations_of_a_free_dimer_are_projected_out():
    # two atoms of 1 amu joined by an isotropic spring k = 1 eV/A^2:
    # 3 translations (zero) + 3 relative modes at sqrt(2 k / m) -> 22.109 THz
    k = np.eye(3)
    h = np.block([[k, -k], [-k, k]])
    masses = np.array([1.0, 1.0])
    full = frequencies_from_hessian(h, masses)
    assert np.sort(np.abs(full))[:3] == pytest.approx([0, 0, 0], abs=1e-6)
    reduced = frequencies_from_hessian(h, masses, remove_translations=True)
    assert len(reduced) == 3
    assert reduced == pytest.approx([15.6334 * math.sqrt(2)] * 3, abs=1e-3)


def test_vineyard_prefactor_is_product_ratio_without_the_unstable_mode():
    # (2 * 3 * 4) / (3 * 4) = 2 THz
    assert vineyard_prefactor([2.0, 3.0, 4.0], [-1.5, 3.0, 4.0]) == pytest.approx(2.0)
    assert vineyard_prefactor([1.0, 5.0], [-7.0, 2.5]) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "minimum, saddle, match",
    [
        ([-0.5, 3.0, 4.0], [-1.0, 3.0, 4.0], "not a minimum"),
        ([2.0, 3.0, 4.0], [1.0, 3.0, 4.0], "0 imaginary"),
        ([2.0, 3.0, 4.0], [-1.0, -3.0, 4.0], "2 imaginary"),
        ([2.0, 3.0, 4.0], [-1.0, 3.0], "same number of modes"),
        ([2.0, 3.0, 4.0], [-1.0, 0.0, 4.0], "zero mode"),
    ],
)
def test_vineyard_refuses_what_is_not_a_minimum_and_first_order_saddle(
    minimum, saddle, match
):
    with pytest.raises(DiffusionInputError, match=match):
        vineyard_prefactor(minimum, saddle)


def test_rate_and_diffusion_coefficient_by_hand():
    # nu* = 1 THz, E_a = 0.3 eV, 300 K: k = 1e12 exp(-0.3 / 0.0258520) = 9.1248e6 /s
    # (k_B = 8.617333e-5 eV/K; ASE's CODATA 2014 value differs by 4e-6 relative)
    k = hop_rate_per_s(1.0, 0.3, 300.0)
    assert k == pytest.approx(1e12 * math.exp(-0.3 / (8.617333262e-5 * 300)), rel=1e-5)
    assert k == pytest.approx(9.1248e6, rel=1e-4)
    # triangular lattice in 2D, a = 2.46 A, z = 6: D = 6 a^2 k / 4 = 1.5 a^2 k
    d = diffusion_coefficient_cm2_s(k, 2.46, 6, 2)
    assert d == pytest.approx(1.5 * 2.46**2 * 9.1248e6 * 1e-16, rel=1e-3)
    # bcc vacancy: z = 8, d = 3, a = sqrt(3) a0 / 2 gives D_v = a0^2 k
    a0 = 4.23
    assert diffusion_coefficient_cm2_s(k, math.sqrt(3) * a0 / 2, 8, 3) == (
        pytest.approx(a0**2 * k * 1e-16)
    )
    with pytest.raises(DiffusionInputError, match="dimension"):
        diffusion_coefficient_cm2_s(k, 2.46, 6, 4)
    with pytest.raises(DiffusionInputError, match="positive"):
        hop_rate_per_s(1.0, 0.3, 0.0)


def test_cosine_channel_prefactor_matches_the_analytic_value(tmp_path):
    ea, a = 0.3, 2.5
    calc = CosineChannel(ea, a, k_y=2.0, k_z=3.0)
    minimum = Atoms("Li", positions=[[0, 0, 0]], cell=[a, 10, 10], pbc=False)
    saddle = minimum.copy()
    saddle.positions[0, 0] = a / 2
    m = minimum.get_masses()[0]  # 6.94 amu
    # nu_x(min) = sqrt(2 pi^2 0.3 / (6.94 * 2.5^2)) * 15.6334 = sqrt(0.136507) *
    # 15.6334 = 5.7761 THz (Li, 6.94 amu)
    expected = math.sqrt(2 * math.pi**2 * ea / (m * a**2)) * THZ_PER_SQRT_EV_A2_AMU
    assert expected == pytest.approx(5.7761, abs=1e-3)
    f_min = mode_frequencies(minimum, calc, [0], folder=tmp_path, name="min")
    f_sad = mode_frequencies(saddle, calc, [0], folder=tmp_path, name="sad")
    # the springs: sqrt(k / m) * 15.6334 at both states
    assert sorted(f_min)[1:] == pytest.approx(
        sorted(math.sqrt(k / m) * THZ_PER_SQRT_EV_A2_AMU for k in (2.0, 3.0)),
        rel=1e-4,
    )
    assert f_sad[0] == pytest.approx(-expected, rel=1e-3)
    nu = vineyard_prefactor(f_min, f_sad)
    assert nu == pytest.approx(expected, rel=1e-3)
    # a 1D channel: z = 2 neighbours, d = 1: D = a^2 k
    res = htst(f_min, f_sad, ea, a, 2, 1, temperatures_K=[300.0, 600.0])
    assert res.prefactor_THz == pytest.approx(expected, rel=1e-3)
    k600 = expected * 1e12 * math.exp(-ea / (8.617333262e-5 * 600))
    assert res.D_cm2_s[1] == pytest.approx(a**2 * k600 * 1e-16, rel=2e-3)
    assert res.D_at(600.0) == pytest.approx(res.D_cm2_s[1])
    # the finite-difference cache is reused: a rerun needs no calculator
    again = mode_frequencies(minimum, None, [0], folder=tmp_path, name="min")
    assert again == pytest.approx(f_min)


def test_htst_without_first_order_saddle_reports_no_prefactor():
    res = htst([2.0, 3.0], [1.0, 3.0], 0.2, 2.46, 6, 2)
    assert res.prefactor_THz is None
    assert res.D_cm2_s == [None]
    assert "0 imaginary" in res.reason
    assert res.D_at(300.0) is None


def _hand_hessian(atoms, calc, indices, delta=0.01):
    """Central-difference Hessian written out here, independent of ase.vibrations."""
    n = len(indices)
    h = np.zeros((3 * n, 3 * n))
    for a, i in enumerate(indices):
        for c in range(3):
            f = []
            for sign in (1, -1):
                work = atoms.copy()
                work.calc = calc
                work.positions[i, c] += sign * delta
                f.append(work.get_forces()[indices].ravel())
            h[3 * a + c] = -(f[0] - f[1]) / (2 * delta)
    return h


@pytest.fixture(scope="module")
def au_band():
    """(minimum, saddle, fixed) of the EMT Au/Al(001) CI-NEB (0.3744 eV)."""
    initial, final, fixed = au_on_al100()
    result = barrier(initial, final, n_images=3, fixed=fixed, calc=EMT())
    assert result.converged
    return result, fixed


def test_emt_adatom_hop_prefactor_matches_an_independent_hessian(au_band, tmp_path):
    from ase.mep import interpolate  # noqa: F401 - ase.mep imported for the band

    result, fixed = au_band
    initial, final, _ = au_on_al100()
    # the band's minimum and saddle: rebuild them from a stored band
    band_res = barrier(
        initial, final, n_images=3, fixed=fixed, calc=EMT(), folder=tmp_path / "b"
    )
    from ase.io import read

    band = read(str(tmp_path / "b" / band_res.images_file), index=":")
    minimum, saddle = band[0], band[band_res.saddle_index]
    au = len(minimum) - 1
    calc = EMT()
    f_min = mode_frequencies(minimum, calc, [au], folder=tmp_path, name="m")
    f_sad = mode_frequencies(saddle, calc, [au], folder=tmp_path, name="s")
    mass = minimum.get_masses()[[au]]
    hand_min = frequencies_from_hessian(_hand_hessian(minimum, calc, [au]), mass)
    hand_sad = frequencies_from_hessian(_hand_hessian(saddle, calc, [au]), mass)
    assert f_min == pytest.approx(hand_min, abs=1e-3)
    assert f_sad == pytest.approx(hand_sad, abs=1e-3)
    # one unstable mode at the bridge, three real ones in the hollow
    assert np.sum(f_sad < -0.1) == 1
    assert np.all(f_min > 0.1)
    nu = vineyard_prefactor(f_min, f_sad)
    assert nu == pytest.approx(
        np.prod(hand_min) / np.prod(np.delete(hand_sad, 0)), rel=1e-3
    )
    # a metal adatom: a few THz
    assert 0.5 < nu < 20
    # the free slab atoms near Au (bottom layers fixed) change the prefactor, but
    # keep one unstable mode
    idx = hessian_indices(minimum, au, 3.0, fixed=fixed, others=[saddle])
    assert au in idx and not set(idx) & set(fixed)
    f_sad_n = mode_frequencies(saddle, calc, idx, folder=tmp_path, name="sn")
    assert np.sum(f_sad_n < -0.1) == 1


def test_hessian_indices_union_excludes_fixed_and_refuses_a_fixed_hopper():
    atoms = Atoms("H3", positions=[[0, 0, 0], [1, 0, 0], [3, 0, 0]], cell=[20] * 3)
    moved = atoms.copy()
    moved.positions[0] = [2.5, 0, 0]
    assert hessian_indices(atoms, 0, 1.5) == [0, 1]
    assert hessian_indices(atoms, 0, 1.5, others=[moved]) == [0, 1, 2]
    assert hessian_indices(atoms, 0, 1.5, fixed=[1], others=[moved]) == [0, 2]
    with pytest.raises(DiffusionInputError, match="fixed"):
        hessian_indices(atoms, 0, 1.5, fixed=[0])


def _walk_frames(n_walkers, n_frames, p_hop, a, seed=3):
    """Independent random walkers on one square lattice (spacing a; they do not
    interact), each hopping to one of its 4 neighbours with probability p_hop per
    frame; frames 10 fs apart."""
    rng = np.random.default_rng(seed)
    steps = np.array([[a, 0, 0], [-a, 0, 0], [0, a, 0], [0, -a, 0]])
    pos = np.zeros((n_walkers, 3))
    pos[:, 0] = (np.arange(n_walkers) % 5) * a
    pos[:, 1] = (np.arange(n_walkers) // 5) * a
    frames, hops = [], 0
    for f in range(n_frames):
        if f:
            move = rng.random(n_walkers) < p_hop
            hops += int(move.sum())
            pos = pos + move[:, None] * steps[rng.integers(0, 4, n_walkers)]
        atoms = Atoms(f"H{n_walkers}", positions=pos, cell=[1e4, 1e4, 50], pbc=False)
        atoms.info = {"phase": "production", "time_fs": 10.0 * f, "temperature_K": 1}
        frames.append(atoms)
    return frames, hops


def test_msd_of_lattice_random_walk_gives_hop_counting_diffusivity():
    a, p, n_frames, n_walkers = 2.0, 0.05, 400, 25
    frames, hops = _walk_frames(n_walkers, n_frames, p, a)
    grid = np.arange(-25, 26) * a
    sites = np.array([[x, y, 0.0] for x in grid for y in grid])
    res = msd_analysis(
        frames,
        range(n_walkers),
        300.0,
        hop_length_A=a,
        dimension=2,
        extra_sites=sites,
        min_stay_frames=1,
    )
    # D = p a^2 / (2 d dt) per walker: 0.05 * 4 / (4 * 0.01 ps) = 5 A^2/ps
    # = 5e-4 cm^2/s; 25 walkers x ~20 hops: the MSD slope scatters by ~10 %
    # (a wrong d or unit would be off by 1.5x or more)
    assert res.D_tracer_cm2_s == pytest.approx(5e-4, rel=0.2)
    assert res.n_hops == hops
    # hop counting sums over walkers: n a^2 / (2 d t) with t the run length
    assert res.D_hops_cm2_s == pytest.approx(hops * a**2 / (4 * res.duration_ps) * 1e-4)
    # all hops of all walkers count (the vacancy convention): 25 x the walker's D
    assert res.D_hops_cm2_s / n_walkers == pytest.approx(5e-4, rel=0.1)
    assert res.D_tracer_err > 0


def test_md_run_resumes_from_its_last_chunk(tmp_path):
    from ase.build import fcc111

    slab = fcc111("Cu", (2, 2, 2), vacuum=5.0)
    fixed = [i for i in range(len(slab)) if slab.positions[i, 2] < 6.0]
    kwargs = dict(
        n_equilibrate=20, n_production=40, chunk_steps=20, interval=5, fixed=fixed
    )
    full = md_run(slab, EMT(), 600.0, tmp_path / "md", **kwargs)
    assert len(full) == 12
    assert [f.info["step"] for f in full] == list(range(5, 61, 5))
    assert full[0].info["phase"] == "equilibrate"
    assert full[-1].info["phase"] == "production"
    # fixed atoms stay where they were
    assert np.allclose(full[-1].positions[fixed], slab.positions[fixed])
    # lose the last chunk: a rerun recomputes it only
    chunks = sorted((tmp_path / "md").glob("chunk-*.traj"))
    chunks[-1].unlink()
    again = md_run(slab, EMT(), 600.0, tmp_path / "md", **kwargs)
    assert [f.info["step"] for f in again] == list(range(5, 61, 5))
    assert np.allclose(again[4].positions, full[4].positions)
    assert len(read_md(tmp_path / "md")) == 12
    with pytest.raises(DiffusionInputError, match="multiple"):
        md_run(slab, EMT(), 600.0, tmp_path / "x", n_equilibrate=15, chunk_steps=10)
