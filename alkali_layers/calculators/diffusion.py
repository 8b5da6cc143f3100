"""Diffusion coefficients: harmonic transition-state theory and an MD cross-check.

Harmonic transition-state theory (HTST)
---------------------------------------
The rate of one hop over a saddle of height ``E_a`` (eV) is

    k(T) = nu* exp(-E_a / k_B T)

with the Vineyard prefactor (G. H. Vineyard, J. Phys. Chem. Solids 3, 121 (1957))

    nu* = prod_{i=1}^{M} nu_i(minimum) / prod_{j=1}^{M-1} nu_j(saddle)

the ratio of the normal-mode frequencies (THz, ``nu = omega / 2 pi``) of the M
degrees of freedom included in the Hessian, the unstable (imaginary) mode of the
saddle left out.  With uncorrelated hops of length ``a`` (A) to ``z`` equivalent
neighbours on a lattice of dimension ``d``

    D = z a^2 k / (2 d)            (docs/science.md, "Barriers and diffusion")

in cm^2/s (1 A^2/s = 1e-16 cm^2/s).  For a vacancy hop this is the **vacancy
diffusivity** D_v (per vacancy); the metal's tracer diffusivity is
``f c_v D_v`` (c_v the vacancy site fraction, f the correlation factor), which is
not computed here.  Units: frequencies THz, rates 1/s, D cm^2/s, energies eV.

The Hessian (Gamma point of the NEB cell, by central finite differences of the
forces, ``ase.vibrations.Vibrations``) covers the ``indices`` atoms only: every
other atom stays at its place, i.e. it is treated as fixed, at the minimum and at
the saddle alike, so the two products run over the same M = 3 * len(indices)
degrees of freedom (the atoms the NEB holds fixed are never included).  When the
indices cover *every* atom of a periodic cell, the three rigid translations are
zero modes at both states; they are projected out of the mass-weighted Hessian
(``remove_translations``) and M = 3N - 3.  Masses are ASE's (amu).

MD cross-check
--------------
:func:`md_run` runs Langevin dynamics (``ase.md.Langevin``; a strong friction to
equilibrate, then a weak one) in chunks written atomically to a folder (a killed
run resumes from the last chunk); :func:`msd_analysis` turns the trajectory into
``D = <|r(t0 + t) - r(t0)|^2> / (2 d t)`` (docs/science.md), averaged over time
origins, for the atoms named ``mobile``; for a vacancy in a layer the vacancy's own
displacement is minus the sum of the mobile atoms' displacements, so
``D_v = <|sum_i dr_i|^2> / (2 d t)``.  Hops are counted from the nearest-site
assignment of the mobile atoms to the sites of the starting structure.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixAtoms

#: 1 / (2 pi) * sqrt(eV / (A^2 amu)) in THz: eigenvalues of the mass-weighted
#: Hessian (eV/A^2/amu) -> frequencies.  sqrt(1.602176634e-19 / (1e-20 *
#: 1.66053906660e-27)) / (2 pi) / 1e12 = 15.6330 THz.
THZ_PER_SQRT_EV_A2_AMU = (
    math.sqrt(units._e / (1e-20 * units._amu)) / (2 * math.pi) / 1e12
)
#: 1 A^2/s in cm^2/s
CM2_PER_A2 = 1e-16
#: default finite displacement of the Hessian (A)
DEFAULT_DELTA_A = 0.01
#: frequencies above -tolerance (THz) count as real (finite-difference noise)
DEFAULT_IMAGINARY_TOLERANCE_THZ = 0.1
#: default radius (A) around the hopping atom of the atoms in the Hessian
DEFAULT_HESSIAN_RADIUS_A = 0.0
#: k_B in eV/K
KB_EV_K = units.kB


class DiffusionInputError(ValueError):
    """Frequencies or settings that cannot give a harmonic TST rate."""


# --- Hessian and frequencies ----------------------------------------------------
def translation_basis(masses: np.ndarray) -> np.ndarray:
    """Orthonormal mass-weighted rigid translations (3N x 3)."""
    n = len(masses)
    basis = np.zeros((3 * n, 3))
    for axis in range(3):
        basis[axis::3, axis] = np.sqrt(masses)
    return basis / np.linalg.norm(basis, axis=0)


def frequencies_from_hessian(
    hessian: np.ndarray, masses: np.ndarray, remove_translations: bool = False
) -> np.ndarray:
    """Normal-mode frequencies (THz, ascending; imaginary ones as negative numbers).

    Parameters
    ----------
    hessian : (3M, 3M) array
        Second derivatives of the energy (eV/A^2), atom-major (x, y, z per atom).
    masses : (M,) array
        Masses (amu) of the M atoms.
    remove_translations : bool
        Project the three rigid translations out (the M atoms are all the atoms of
        a periodic cell): 3M - 3 frequencies are returned.
    """
    h = np.asarray(hessian, float)
    m = np.asarray(masses, float)
    if h.shape != (3 * len(m), 3 * len(m)):
        raise DiffusionInputError(
            f"Hessian shape {h.shape} does not match {len(m)} atoms"
        )
    inv = 1.0 / np.sqrt(np.repeat(m, 3))
    dyn = 0.5 * (h + h.T) * inv[:, None] * inv[None, :]
    if remove_translations:
        t = translation_basis(m)
        # an orthonormal basis of the complement of the translations
        q, _ = np.linalg.qr(np.hstack([t, np.eye(len(dyn))]))
        comp = q[:, 3:]
        dyn = comp.T @ dyn @ comp
    eig = np.linalg.eigvalsh(dyn)
    return np.sign(eig) * np.sqrt(np.abs(eig)) * THZ_PER_SQRT_EV_A2_AMU


def hessian(
    atoms: Atoms,
    calc,
    indices,
    delta_A: float = DEFAULT_DELTA_A,
    folder: str | Path | None = None,
    name: str = "vib",
) -> np.ndarray:
    """Gamma-point Hessian block (eV/A^2) of ``indices`` by ``ase.vibrations``.

    Central differences (``nfree=2``), ``delta_A`` displacement; every other atom
    stays in place.  With ``folder`` the forces of every displacement are cached
    there (``<folder>/<name>/``), so a rerun computes only the missing ones.
    """
    from ase.vibrations import Vibrations

    work = atoms.copy()
    work.set_constraint()
    work.calc = calc
    where = Path(folder) / name if folder is not None else None
    if where is None:
        import tempfile

        tmp = tempfile.TemporaryDirectory(prefix="vib-")
        where = Path(tmp.name) / name
    vib = Vibrations(work, indices=list(indices), name=str(where), delta=delta_A)
    vib.cache.strip_empties()  # a killed run may leave an empty file behind
    vib.run()
    return vib.get_vibrations().get_hessian_2d()


def mode_frequencies(
    atoms: Atoms,
    calc,
    indices,
    delta_A: float = DEFAULT_DELTA_A,
    folder: str | Path | None = None,
    name: str = "vib",
    remove_translations: bool | None = None,
) -> np.ndarray:
    """Frequencies (THz, imaginary negative) of the ``indices`` block.

    ``remove_translations`` None: True when the indices cover every atom of a
    cell periodic in all directions and no atom is constrained (the translations
    are then zero modes of a translation-invariant energy).
    """
    idx = [int(i) for i in indices]
    if remove_translations is None:
        remove_translations = (
            len(idx) == len(atoms) and bool(atoms.pbc.all()) and not atoms.constraints
        )
    h = hessian(atoms, calc, idx, delta_A, folder, name)
    return frequencies_from_hessian(h, atoms.get_masses()[idx], remove_translations)


def hessian_indices(
    atoms: Atoms, hop_atom: int, radius_A: float, fixed=(), others=()
) -> list[int]:
    """The hopping atom and every free atom within ``radius_A`` of it.

    Distances are taken (minimum image) in ``atoms`` and in each structure of
    ``others`` (e.g. the saddle), and the union is returned, so that one index set
    serves the minimum and the saddle.  Atoms in ``fixed`` are never included.
    """
    fixed = {int(i) for i in fixed}
    if hop_atom in fixed:
        raise DiffusionInputError(f"the hopping atom {hop_atom} is a fixed atom")
    chosen = {int(hop_atom)}
    for struct in (atoms, *others):
        d = struct.get_distances(hop_atom, range(len(struct)), mic=True)
        chosen.update(int(i) for i in np.nonzero(d <= radius_A)[0])
    return sorted(chosen - fixed)


# --- Vineyard prefactor, rates, D -----------------------------------------------
def vineyard_prefactor(
    minimum_THz,
    saddle_THz,
    imaginary_tolerance_THz: float = DEFAULT_IMAGINARY_TOLERANCE_THZ,
) -> float:
    """nu* = prod nu_i(min) / prod nu_j(saddle, real modes) in THz.

    ``minimum_THz`` holds M frequencies, all real (> -tolerance) and positive;
    ``saddle_THz`` holds M frequencies with exactly one imaginary mode (< -tol),
    which is left out.  Computed as a sum of logarithms.

    Raises
    ------
    DiffusionInputError
        Different numbers of modes, an imaginary or zero mode at the minimum (not a
        minimum), or not exactly one imaginary mode at the saddle (not a first-order
        saddle).
    """
    fmin = np.asarray(minimum_THz, float)
    fsad = np.asarray(saddle_THz, float)
    tol = imaginary_tolerance_THz
    if fmin.shape != fsad.shape or fmin.ndim != 1 or len(fmin) < 1:
        raise DiffusionInputError(
            f"minimum and saddle need the same number of modes, got {fmin.shape} "
            f"and {fsad.shape}"
        )
    if np.any(fmin <= tol):
        raise DiffusionInputError(
            f"the minimum has {int(np.sum(fmin <= tol))} imaginary or zero mode(s) "
            f"(lowest {fmin.min():.3f} THz): not a minimum of the included degrees "
            "of freedom"
        )
    n_imag = int(np.sum(fsad < -tol))
    if n_imag != 1:
        raise DiffusionInputError(
            f"the saddle has {n_imag} imaginary mode(s) (frequencies below "
            f"-{tol} THz; lowest {fsad.min():.3f} THz): a first-order saddle has "
            "exactly one"
        )
    real = np.delete(fsad, int(np.argmin(fsad)))
    if np.any(real <= tol):
        raise DiffusionInputError(
            f"the saddle has a zero mode ({real.min():.3f} THz) besides the unstable "
            "one; remove translations or fix the soft degrees of freedom"
        )
    return float(np.exp(np.sum(np.log(fmin)) - np.sum(np.log(real))))


def hop_rate_per_s(prefactor_THz: float, barrier_eV: float, temperature_K) -> float:
    """k = nu* exp(-E_a / k_B T) in 1/s (one hop, one direction)."""
    t = np.asarray(temperature_K, float)
    if np.any(t <= 0):
        raise DiffusionInputError("temperatures must be positive (K)")
    return prefactor_THz * 1e12 * np.exp(-barrier_eV / (KB_EV_K * t))


def diffusion_coefficient_cm2_s(
    rate_per_s, hop_length_A: float, multiplicity: int, dimension: int
):
    """D = z a^2 k / (2 d) in cm^2/s (uncorrelated hops on a lattice)."""
    if dimension not in (1, 2, 3):
        raise DiffusionInputError(f"dimension must be 1, 2 or 3, got {dimension!r}")
    if multiplicity < 1:
        raise DiffusionInputError(f"multiplicity must be >= 1, got {multiplicity!r}")
    return (
        multiplicity
        * hop_length_A**2
        * np.asarray(rate_per_s, float)
        / (2 * dimension)
        * CM2_PER_A2
    )


@dataclass
class HTSTResult:
    """Harmonic TST of one hop (JSON-serialisable via :meth:`to_dict`).

    ``prefactor_THz`` is None (with ``reason``) when the frequencies do not
    describe a minimum and a first-order saddle; the D fields are then None too.
    ``D_*`` is the diffusivity of ``diffusing_species`` ("metal atom" for an
    isolated atom, "vacancy" for a vacancy hop: the vacancy diffusivity).
    """

    prefactor_THz: float | None
    barrier_eV: float
    hop_length_A: float
    multiplicity: int
    dimension: int
    diffusing_species: str
    indices: list[int]
    remove_translations: bool
    delta_A: float
    minimum_THz: list[float]
    saddle_THz: list[float]
    temperatures_K: list[float] = field(default_factory=list)
    rate_per_s: list[float | None] = field(default_factory=list)
    D_cm2_s: list[float | None] = field(default_factory=list)
    reason: str = ""

    def D_at(self, temperature_K: float) -> float | None:
        """D (cm^2/s) at ``temperature_K`` (None without a prefactor)."""
        if self.prefactor_THz is None:
            return None
        k = hop_rate_per_s(self.prefactor_THz, self.barrier_eV, temperature_K)
        return float(
            diffusion_coefficient_cm2_s(
                k, self.hop_length_A, self.multiplicity, self.dimension
            )
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HTSTResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def htst(
    minimum_THz,
    saddle_THz,
    barrier_eV: float,
    hop_length_A: float,
    multiplicity: int,
    dimension: int,
    diffusing_species: str = "metal atom",
    temperatures_K=(300.0,),
    indices=(),
    remove_translations: bool = False,
    delta_A: float = DEFAULT_DELTA_A,
    imaginary_tolerance_THz: float = DEFAULT_IMAGINARY_TOLERANCE_THZ,
) -> HTSTResult:
    """Prefactor, rates and D(T) from the frequencies at the minimum and saddle."""
    reason = ""
    try:
        nu = vineyard_prefactor(minimum_THz, saddle_THz, imaginary_tolerance_THz)
    except DiffusionInputError as err:
        nu, reason = None, str(err)
    temps = [float(t) for t in temperatures_K]
    rates: list[float | None] = []
    ds: list[float | None] = []
    for t in temps:
        if nu is None:
            rates.append(None)
            ds.append(None)
            continue
        k = float(hop_rate_per_s(nu, barrier_eV, t))
        rates.append(k)
        ds.append(
            float(diffusion_coefficient_cm2_s(k, hop_length_A, multiplicity, dimension))
        )
    return HTSTResult(
        prefactor_THz=nu,
        barrier_eV=float(barrier_eV),
        hop_length_A=float(hop_length_A),
        multiplicity=int(multiplicity),
        dimension=int(dimension),
        diffusing_species=diffusing_species,
        indices=[int(i) for i in indices],
        remove_translations=bool(remove_translations),
        delta_A=float(delta_A),
        minimum_THz=[float(x) for x in minimum_THz],
        saddle_THz=[float(x) for x in saddle_THz],
        temperatures_K=temps,
        rate_per_s=rates,
        D_cm2_s=ds,
        reason=reason,
    )


# --- MD -----------------------------------------------------------------------
MD_CHUNK_PREFIX = "chunk-"


def _chunk_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{MD_CHUNK_PREFIX}*.traj"))


def md_run(
    atoms: Atoms,
    calc,
    temperature_K: float,
    folder: str | Path,
    timestep_fs: float = 2.0,
    n_equilibrate: int = 250,
    n_production: int = 2000,
    chunk_steps: int = 100,
    interval: int = 5,
    friction_equilibrate_per_fs: float = 0.02,
    friction_per_fs: float = 0.002,
    fixed=(),
    seed: int = 1,
    progress=None,
) -> list[Atoms]:
    """Langevin MD (``ase.md.Langevin``) in checkpointed chunks; all frames back.

    The run starts from ``atoms`` with Maxwell-Boltzmann velocities at
    ``temperature_K``; ``n_equilibrate`` steps with the strong friction, then
    ``n_production`` with the weak one.  Every ``chunk_steps`` steps the frames
    (every ``interval`` steps, positions unwrapped, momenta kept) are written to
    ``folder/chunk-NNNN.traj`` (temporary file, then rename); a rerun continues
    from the last chunk's final frame (the random stream is re-seeded from
    ``seed`` and the chunk number, so a resumed run is a valid but not a bitwise
    copy of an uninterrupted one).  Atoms in ``fixed`` are held in place.
    Frame ``info``: ``step``, ``time_fs``, ``phase`` ("equilibrate"/"production").
    """
    from ase.io import read, write
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta

    if chunk_steps % interval:
        raise DiffusionInputError("chunk_steps must be a multiple of interval")
    if n_equilibrate % chunk_steps or n_production % chunk_steps:
        raise DiffusionInputError(
            "n_equilibrate and n_production must be multiples of chunk_steps"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_total = n_equilibrate + n_production
    n_chunks = n_total // chunk_steps
    chunks = _chunk_files(folder)
    work = atoms.copy()
    work.set_constraint([FixAtoms(indices=list(fixed))] if len(fixed) else [])
    work.calc = calc
    if chunks:
        last = read(str(chunks[-1]), index=-1)
        work.positions = last.positions
        work.set_momenta(last.get_momenta(), apply_constraint=False)
    else:
        rng = np.random.default_rng(seed)
        thermalize_momenta(work, temperature_K, rng=rng)
    for c in range(len(chunks), n_chunks):
        step0 = c * chunk_steps
        equil = step0 < n_equilibrate
        dyn = Langevin(
            work,
            timestep=timestep_fs * units.fs,
            temperature_K=temperature_K,
            friction=(friction_equilibrate_per_fs if equil else friction_per_fs)
            / units.fs,
            fixcm=False,
            rng=np.random.default_rng([seed, c]),
        )
        frames: list[Atoms] = []

        def grab(dyn=dyn, frames=frames, step0=step0, equil=equil) -> None:
            if dyn.nsteps == 0:
                return
            frame = work.copy()
            frame.set_constraint()
            frame.calc = None
            frame.set_momenta(work.get_momenta(), apply_constraint=False)
            step = step0 + dyn.nsteps
            frame.info = {
                "step": step,
                "time_fs": step * timestep_fs,
                "phase": "equilibrate" if equil else "production",
                "temperature_K": float(work.get_temperature()),
                "epot_eV": float(work.get_potential_energy()),
            }
            frames.append(frame)

        dyn.attach(grab, interval=interval)
        dyn.run(chunk_steps)
        path = folder / f"{MD_CHUNK_PREFIX}{c:04d}.traj"
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        write(str(tmp), frames, format="traj")
        os.replace(tmp, path)
        if progress is not None:
            progress(c + 1, n_chunks)
    return read_md(folder)


def read_md(folder: str | Path) -> list[Atoms]:
    """All frames of the chunks in ``folder``, in order."""
    from ase.io import read

    frames: list[Atoms] = []
    for path in _chunk_files(Path(folder)):
        frames.extend(read(str(path), index=":"))
    return frames


@dataclass
class MSDResult:
    """D from the mean-square displacement of an MD run (cm^2/s).

    ``D_tracer_cm2_s``: mean over the mobile atoms of their MSD / (2 d t);
    ``D_collective_cm2_s``: <|sum_i dr_i|^2> / (2 d t) -- for one vacancy among
    the mobile atoms this is the vacancy diffusivity; ``*_err``: standard error
    from the spread of the slopes of ``n_blocks`` independent blocks.  ``n_hops``:
    site changes of the mobile atoms (nearest site of the reference structure,
    sites = the reference positions plus ``extra_sites``), each counted once after
    the atom stayed ``min_stay_frames`` frames on the new site.  ``D_hops_cm2_s``:
    n_hops a^2 / (2 d t_total), ``D_hops_err`` its Poisson error.
    """

    temperature_K: float
    mean_temperature_K: float
    duration_ps: float
    dimension: int
    n_mobile: int
    D_tracer_cm2_s: float
    D_tracer_err: float
    D_collective_cm2_s: float
    D_collective_err: float
    n_hops: int
    D_hops_cm2_s: float
    D_hops_err: float
    hop_length_A: float
    fit_window_ps: list[float]
    msd_time_ps: list[float]
    msd_tracer_A2: list[float]
    msd_collective_A2: list[float]
    max_displacement_A: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _msd_curve(disp: np.ndarray, lags: np.ndarray, dims) -> tuple:
    """MSD (A^2) per lag, averaged over time origins: per-atom mean and collective."""
    tracer, collective = [], []
    for lag in lags:
        d = disp[lag:, :, :] - disp[:-lag, :, :]
        d = d[:, :, dims]
        tracer.append(float(np.mean(np.sum(d**2, axis=2))))
        collective.append(float(np.mean(np.sum(d.sum(axis=1) ** 2, axis=1))))
    return np.array(tracer), np.array(collective)


def _slope(t, y) -> float:
    return float(np.polyfit(t, y, 1)[0])


def count_hops(
    positions: np.ndarray,
    sites: np.ndarray,
    cell,
    pbc,
    dims,
    min_stay_frames: int = 5,
) -> int:
    """Site changes of the atoms in ``positions`` (frames x atoms x 3)."""
    from ase.geometry import find_mic

    n_frames, n_atoms, _ = positions.shape
    dims = list(dims)
    other = [k for k in range(3) if k not in dims]
    hops = 0
    for a in range(n_atoms):
        vec = positions[:, a, None, :] - sites[None, :, :]
        vec[:, :, other] = 0.0
        _, dist = find_mic(vec.reshape(-1, 3), cell, pbc)
        assigned = np.argmin(dist.reshape(n_frames, len(sites)), axis=1)
        current = assigned[0]
        run_site, run_len = current, 0
        for s in assigned[1:]:
            if s == run_site:
                run_len += 1
            else:
                run_site, run_len = s, 1
            if run_site != current and run_len >= min_stay_frames:
                hops += 1
                current = run_site
    return hops


def msd_analysis(
    frames: list[Atoms],
    mobile,
    temperature_K: float,
    hop_length_A: float,
    dimension: int = 2,
    extra_sites=(),
    fit_window: tuple[float, float] = (0.1, 0.5),
    n_blocks: int = 3,
    min_stay_frames: int = 5,
    sites=None,
) -> MSDResult:
    """D(T) from the production frames of :func:`md_run`.

    ``dimension`` 2 uses the x and y displacements (a layer parallel to the cell's
    a-b plane), 3 all three.  The MSD is averaged over all time origins and fitted
    linearly for lags between ``fit_window`` fractions of the run (of a block for
    the errors).  Hops are counted between ``sites`` (A, n x 3; default the mobile
    atoms' positions in the first production frame plus ``extra_sites``); pass
    the sites of the starting structure so that a hop made while equilibrating
    does not shift them.
    """
    prod = [f for f in frames if f.info.get("phase") == "production"]
    if len(prod) < 10 * n_blocks:
        raise DiffusionInputError(
            f"{len(prod)} production frames are too few for an MSD with "
            f"{n_blocks} blocks"
        )
    mobile = [int(i) for i in mobile]
    dims = [0, 1] if dimension == 2 else [0, 1, 2]
    if dimension not in (2, 3):
        raise DiffusionInputError("dimension must be 2 or 3")
    pos = np.array([f.positions[mobile] for f in prod])
    times_fs = np.array([f.info["time_fs"] for f in prod])
    dt_ps = float(times_fs[1] - times_fs[0]) / 1000.0
    disp = pos - pos[0]
    n = len(prod)

    def fit(block: np.ndarray) -> tuple[float, float, np.ndarray, tuple]:
        m = len(block)
        lags = np.arange(max(1, int(fit_window[0] * m)), max(2, int(fit_window[1] * m)))
        tr, co = _msd_curve(block, lags, dims)
        t = lags * dt_ps
        return _slope(t, tr), _slope(t, co), lags, (tr, co)

    s_tr, s_co, lags, _ = fit(disp)
    all_lags = np.arange(1, n // 2)
    msd_tr, msd_co = _msd_curve(disp, all_lags, dims)
    # A^2/ps -> cm^2/s: 1e-16 / 1e-12
    conv = CM2_PER_A2 / 1e-12 / (2 * dimension)
    blocks = np.array_split(np.arange(n), n_blocks)
    slopes = [fit(disp[b] - disp[b[0]])[:2] for b in blocks]
    s = np.array(slopes)
    err = s.std(axis=0, ddof=1) / np.sqrt(n_blocks) * conv
    ref = prod[0]
    if sites is None:
        sites = np.vstack([ref.positions[mobile], np.reshape(extra_sites, (-1, 3))])
    sites = np.asarray(sites, float).reshape(-1, 3)
    hops = count_hops(pos, sites, ref.cell, ref.pbc, dims, min_stay_frames)
    duration_ps = float(times_fs[-1] - times_fs[0]) / 1000.0
    # n a^2 / (2 d t), A^2/ps -> cm^2/s
    d_hops = hops * hop_length_A**2 * conv / duration_ps
    notes = []
    if hops < 10:
        notes.append(
            f"only {hops} hops observed: the MSD slope has a large statistical error"
        )
    return MSDResult(
        temperature_K=float(temperature_K),
        mean_temperature_K=float(np.mean([f.info["temperature_K"] for f in prod])),
        duration_ps=duration_ps,
        dimension=dimension,
        n_mobile=len(mobile),
        D_tracer_cm2_s=s_tr * conv,
        D_tracer_err=float(err[0]),
        D_collective_cm2_s=s_co * conv,
        D_collective_err=float(err[1]),
        n_hops=int(hops),
        D_hops_cm2_s=float(d_hops),
        D_hops_err=float(d_hops / math.sqrt(max(hops, 1))),
        hop_length_A=float(hop_length_A),
        fit_window_ps=[float(lags[0] * dt_ps), float(lags[-1] * dt_ps)],
        msd_time_ps=[float(x) for x in all_lags * dt_ps],
        msd_tracer_A2=[float(x) for x in msd_tr],
        msd_collective_A2=[float(x) for x in msd_co],
        max_displacement_A=float(np.sqrt((disp[:, :, dims] ** 2).sum(axis=2)).max()),
        notes=notes,
    )
