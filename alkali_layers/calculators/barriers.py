"""Migration barriers: climbing-image nudged elastic band on ``ase.mep.NEB``.

Conventions
-----------
* ``barrier_fwd_eV = E_saddle - E_initial`` and ``barrier_bwd_eV = E_saddle -
  E_final`` (eV, total energies of the cell), both from ASE's force-based spline
  through the converged band (:class:`ase.mep.NEBTools`, ``get_barrier(fit=True)``);
  ``delta_E_eV = E_final - E_initial``, so ``barrier_bwd_eV = barrier_fwd_eV -
  delta_E_eV``.
* The profile is the same spline: reaction coordinate (A, cumulative
  minimum-image distance between images in the full 3N configuration space) and
  energy (eV, relative to the initial state).
* ``n_images`` counts the *moving* images between the two endpoints (VASP's
  ``IMAGES``); the band holds ``n_images + 2`` structures.
* A band whose largest NEB force did not fall below ``fmax_eV_A`` within
  ``max_steps`` is reported with ``converged=False`` and **no barrier** (the barrier
  fields are None); its last profile is kept for diagnosis only.

Method (docs/science.md, "Barriers and diffusion"): endpoints are relaxed first
(:func:`alkali_layers.calculators.relax.relax`, fixed cell) and must be converged
minima with the same atoms in the same order and the same cell; the path is
interpolated by IDPP (Smidstrup et al., J. Chem. Phys. 140, 214106 (2014)), and the
band is relaxed with the improved-tangent NEB (Henkelman & Jonsson, J. Chem. Phys.
113, 9978 (2000)) with a climbing image (Henkelman, Uberuaga & Jonsson, J. Chem.
Phys. 113, 9901 (2000)).  With a GPAW engine the band is first converged with the
fast ML engine, then the endpoints are relaxed and the band refined with GPAW from
the converged ML band (not from a new interpolation).

Checkpoints (``folder``): ``endpoints.traj`` (ML-relaxed endpoints with their
energies and forces), ``endpoint-gpaw-<initial|final>.traj`` (each GPAW-relaxed
endpoint; ``relax-gpaw-<initial|final>.traj`` holds the steps of one being relaxed,
where a killed run resumes), ``band-<engine>.traj`` (the whole band, rewritten
atomically after every optimizer step), ``band-<engine>.json`` (steps and force
calls so far) and ``barrier.<settings hash>.json`` (the finished result, returned
as is by a rerun with the same settings).  With GPAW the band starts from the
converged ML band's interior, shifted by the endpoints' DFT relaxation blended
linearly along the band.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.io import read, write
from ase.mep import NEB, NEBTools
from ase.optimize import BFGS, FIRE, MDMin
from ase.utils.forcecurve import fit_images

from ..errors import ModelFailure
from ..jsonio import read_json, write_json_atomic
from ..settings import stable_hash
from .guards import check_energy, check_forces, energy_bounds, largest_force
from .relax import RelaxSettings, relax

#: NEB force projections accepted (``ase.mep.NEB(method=...)``)
NEB_METHODS: tuple[str, ...] = ("improvedtangent", "aseneb", "eb", "spline", "string")
#: initial-path interpolations (``NEB.interpolate(method=...)``)
INTERPOLATIONS: tuple[str, ...] = ("idpp", "linear")
#: optimizers of the band
BAND_OPTIMIZERS = {"FIRE": FIRE, "BFGS": BFGS, "MDMin": MDMin}
#: smallest distance (A) the hopping atoms must move between the two endpoints
MIN_HOP_A = 0.3
#: where a GPAW band starts (``barrier(gpaw_band_start=...)``)
GPAW_BAND_STARTS = ("ml", "idpp")
#: defaults of :func:`barrier` (and of the campaign kind's options): moving images,
#: band convergence (eV/A; docs/science.md asks for <= 0.05) and step cap
DEFAULT_N_IMAGES = 7
DEFAULT_FMAX_EV_A = 0.05
DEFAULT_MAX_STEPS = 500

ENDPOINTS_FILE = "endpoints.traj"


class BarrierInputError(ValueError):
    """Endpoints or settings that cannot define a migration path."""


@dataclass
class BarrierResult:
    """Outcome of :func:`barrier` (JSON-serialisable via :meth:`to_dict`).

    Attributes
    ----------
    converged : bool
        The band's largest NEB force (climbing image included) fell below
        ``fmax_eV_A``.  When False the barrier fields are None.
    barrier_fwd_eV, barrier_bwd_eV : float or None
        Spline saddle energy minus initial / final energy (eV).
    delta_E_eV : float
        E(final) - E(initial), eV (relaxed endpoints).
    barrier_raw_fwd_eV : float or None
        Highest image energy minus initial energy (no spline), eV.
    path_A, energies_eV : list of float
        Image positions along the reaction coordinate (A) and energies relative to
        the initial state (eV).
    profile_path_A, profile_energy_eV : list of float
        NEBTools spline through the images (same units).
    saddle_index : int
        Index (0 = initial) of the highest image.
    saddle_forces_eV_A : list
        Forces (eV/A, N x 3) on the highest image.
    fmax_eV_A : float
        Largest NEB force of the last band (eV/A).
    force_calls : dict
        Energy+force evaluations per engine ("mlip", "gpaw"), endpoint relaxations
        included.
    n_steps : dict
        Band optimizer steps per engine.
    ml_barrier_fwd_eV, ml_barrier_bwd_eV : float or None
        With a GPAW engine: the converged ML band's barriers (for the ML-DFT
        difference); otherwise equal to the barrier fields.
    images_file : str or None
        Trajectory of the final band (in the task folder).
    band_force_calls : dict
        Energy+force evaluations per engine spent on the band alone (endpoint
        relaxations excluded): the cost compared by ``bench_barrier_dft.py``.
    gpaw_band_start : {"ml", "idpp"}
        Where the GPAW band started: the converged ML band, or the interpolated path
        between the GPAW endpoints (DFT only, the benchmark's reference).
    """

    converged: bool
    engine: str
    n_images: int
    method: str
    climb: bool
    interpolation: str
    fmax_eV_A: float
    fmax_target_eV_A: float
    barrier_fwd_eV: float | None
    barrier_bwd_eV: float | None
    barrier_raw_fwd_eV: float | None
    delta_E_eV: float
    path_A: list[float]
    energies_eV: list[float]
    profile_path_A: list[float]
    profile_energy_eV: list[float]
    saddle_index: int
    saddle_forces_eV_A: list[list[float]]
    force_calls: dict[str, int]
    n_steps: dict[str, int]
    wall_s: float
    hop_distance_A: float
    ml_barrier_fwd_eV: float | None = None
    ml_barrier_bwd_eV: float | None = None
    ml_converged: bool | None = None
    images_file: str | None = None
    reason: str = ""
    settings: dict = field(default_factory=dict)
    band_force_calls: dict[str, int] = field(default_factory=dict)
    gpaw_band_start: str = "ml"

    @property
    def total_force_calls(self) -> int:
        return int(sum(self.force_calls.values()))

    def to_dict(self) -> dict:
        """Plain JSON types only (lists, floats, ints, str, None)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BarrierResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class _CountingCalculator(Calculator):
    """Delegates to ``inner`` and counts its evaluations in ``counter[engine]``.

    Every energy and force passes the project's guards (finite, sane energy per
    atom, no exploding forces).  Forces are returned unconstrained; the Atoms
    object applies its own constraints.
    """

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, inner, counter: dict, engine: str):
        super().__init__()
        self.inner = inner
        self.counter = counter
        self.engine = engine
        self.bounds = energy_bounds(inner)
        # relax() reads the bounds of the calculator it is given
        self.energy_bounds_eV_per_atom = self.bounds

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = self.inner
        energy = float(work.get_potential_energy())
        forces = work.get_forces(apply_constraint=False)
        self.counter[self.engine] = self.counter.get(self.engine, 0) + 1
        check_energy(energy, len(work), "NEB image", self.bounds)
        check_forces(forces, "NEB image")
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def _engine_name(engine) -> str:
    if engine is None:
        return "mlip"
    name = getattr(engine, "engine", None)
    if name not in ("mlip", "gpaw"):
        raise BarrierInputError(
            f"engine must be MLIPSettings, GPAWSettings or DFTProtocol, got {engine!r}"
        )
    return name


def _gpaw_settings(engine):
    """The GPAW settings of the band: a DFTProtocol's relaxation settings."""
    return getattr(engine, "relax", engine)


def check_endpoints(initial: Atoms, final: Atoms) -> None:
    """Raise :class:`BarrierInputError` unless the two endpoints can be joined.

    Same number of atoms, same chemical symbols in the same order, same cell and
    periodicity (``ase.mep.NEB`` keeps the cell fixed), and at least one atom moving
    by :data:`MIN_HOP_A` (minimum image).
    """
    if len(initial) != len(final):
        raise BarrierInputError(
            f"endpoints differ in composition: {initial.get_chemical_formula()} "
            f"({len(initial)} atoms) vs {final.get_chemical_formula()} "
            f"({len(final)} atoms)"
        )
    a, b = initial.get_chemical_symbols(), final.get_chemical_symbols()
    if a != b:
        if sorted(a) != sorted(b):
            raise BarrierInputError(
                "endpoints differ in composition: "
                f"{initial.get_chemical_formula()} vs {final.get_chemical_formula()}"
            )
        first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        raise BarrierInputError(
            "endpoints have the same atoms in a different order (first difference at "
            f"index {first}: {a[first]} vs {b[first]}); NEB pairs atoms by index, "
            "so reorder the final state like the initial one"
        )
    if np.any(initial.pbc != final.pbc) or not np.allclose(
        initial.cell.array, final.cell.array, atol=1e-6
    ):
        raise BarrierInputError(
            "endpoints must share the cell and periodicity (NEB keeps the cell fixed)"
        )
    if _hop_distance(initial, final) < MIN_HOP_A:
        raise BarrierInputError(
            f"no atom moves by more than {MIN_HOP_A} A between the endpoints: "
            "they are the same state"
        )


def _hop_distance(initial: Atoms, final: Atoms) -> float:
    from ase.geometry import find_mic

    d, lengths = find_mic(
        final.positions - initial.positions, initial.cell, initial.pbc
    )
    return float(lengths.max()) if len(lengths) else 0.0


def _fixed_indices(initial: Atoms, fixed) -> list[int]:
    if fixed is None:
        fixed = initial.info.get("neb_fixed", [])
    out = sorted({int(i) for i in fixed})
    if out and (out[0] < 0 or out[-1] >= len(initial)):
        raise BarrierInputError(
            f"fixed indices must lie in 0..{len(initial) - 1}, got {out[0]}..{out[-1]}"
        )
    return out


def check_band_settings(
    n_images, method, interpolation, fmax, max_steps, optimizer, gpaw_band_start="ml"
) -> None:
    """Raise :class:`BarrierInputError` for NEB settings :func:`barrier` refuses."""
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 1:
        raise BarrierInputError(f"n_images must be an integer >= 1, got {n_images!r}")
    if method not in NEB_METHODS:
        raise BarrierInputError(
            f"unknown NEB method {method!r}; allowed: {', '.join(NEB_METHODS)}"
        )
    if interpolation not in INTERPOLATIONS:
        raise BarrierInputError(
            f"unknown interpolation {interpolation!r}; allowed: "
            f"{', '.join(INTERPOLATIONS)}"
        )
    if not fmax > 0:
        raise BarrierInputError(f"fmax must be positive (eV/A), got {fmax!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise BarrierInputError(f"max_steps must be an integer >= 0, got {max_steps!r}")
    if optimizer not in BAND_OPTIMIZERS:
        raise BarrierInputError(
            f"unknown band optimizer {optimizer!r}; allowed: "
            f"{', '.join(BAND_OPTIMIZERS)}"
        )
    if gpaw_band_start not in GPAW_BAND_STARTS:
        raise BarrierInputError(
            f"gpaw_band_start must be one of {', '.join(GPAW_BAND_STARTS)}, got "
            f"{gpaw_band_start!r}"
        )


def _frozen(atoms: Atoms, energy: float, forces: np.ndarray) -> Atoms:
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=energy, forces=forces)
    return out


def _relax_endpoint(
    atoms: Atoms,
    calc,
    settings: RelaxSettings,
    which: str,
    logfile: str | None,
    trajectory: str | None = None,
) -> Atoms:
    """Relaxed copy (fixed cell, no gallery prescan) or a clear error;
    ``trajectory``: every step appended there (the restart point)."""
    result = relax(
        atoms, calc, settings, cell_mode="fixed", logfile=logfile, trajectory=trajectory
    )
    if not result.converged:
        raise BarrierInputError(
            f"the {which} endpoint is not a minimum: its relaxation stopped at "
            f"fmax {result.fmax_eV_A:.3f} eV/A after {result.n_steps} steps "
            f"(target {settings.fmax_eV_A} eV/A); check the structure or raise "
            "the endpoint step cap"
        )
    return result.atoms


def _check_minimum(atoms: Atoms, calc, fmax: float, which: str, counter, engine):
    """Endpoints given as relaxed (``relax_endpoints=False``) must be minima."""
    work = atoms.copy()
    work.calc = _CountingCalculator(calc, counter, engine)
    forces = work.get_forces()
    f = largest_force(forces)
    if f > fmax:
        raise BarrierInputError(
            f"the {which} endpoint is not a minimum: largest force {f:.3f} eV/A > "
            f"{fmax} eV/A; relax it first (relax_endpoints=True)"
        )
    return _frozen(atoms, work.get_potential_energy(), work.get_forces())


def _write_band(path: Path, images: list[Atoms]) -> None:
    """All images to ``path`` atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frames = []
    for image in images:
        frame = image.copy()
        if image.calc is not None and "energy" in image.calc.results:
            frame.calc = SinglePointCalculator(
                frame,
                energy=image.calc.results["energy"],
                forces=image.calc.results["forces"],
            )
        frames.append(frame)
    write(str(tmp), frames, format="traj")
    os.replace(tmp, path)


def _read_band(path: Path, like: Atoms, n: int) -> list[Atoms] | None:
    if not path.exists():
        return None
    try:
        frames = read(str(path), index=":")
    except Exception:  # unreadable checkpoint: start the band again
        return None
    if len(frames) != n or any(
        f.get_chemical_symbols() != like.get_chemical_symbols() for f in frames
    ):
        return None
    return frames


def _band_summary(images: list[Atoms]) -> dict:
    """Barriers, profile and saddle of a band whose images carry energies/forces."""
    tools = NEBTools(images)
    fwd, delta = tools.get_barrier(fit=True)
    raw, _ = tools.get_barrier(fit=False)
    fit = fit_images(images)
    energies = np.asarray(fit.energies, float)
    saddle = int(np.argmax(energies))
    return dict(
        barrier_fwd_eV=float(fwd),
        barrier_bwd_eV=float(fwd - delta),
        barrier_raw_fwd_eV=float(raw),
        delta_E_eV=float(delta),
        path_A=[float(x) for x in fit.path],
        energies_eV=[float(x) for x in energies],
        profile_path_A=[float(x) for x in fit.fit_path],
        profile_energy_eV=[float(x) for x in fit.fit_energies],
        saddle_index=saddle,
        saddle_forces_eV_A=images[saddle].get_forces().tolist(),
    )


def _run_band(
    images: list[Atoms],
    calcs: list,
    *,
    climb: bool,
    method: str,
    fmax: float,
    max_steps: int,
    optimizer: str,
    checkpoint: Path | None,
    state_file: Path | None,
    counter: dict,
    engine: str,
    logfile: str | None,
) -> tuple[bool, float, int, int]:
    """Relax the band in place; returns (converged, fmax of the band, steps, force
    calls of the band itself, resumed runs included)."""
    state = (read_json(state_file) if state_file is not None else None) or {}
    done = int(state.get("steps", 0))
    calls_before = int(state.get("band_calls", 0))
    calls_start = counter.get(engine, 0)
    for image, calc in zip(images[1:-1], calcs, strict=True):
        image.calc = _CountingCalculator(calc, counter, engine)
    neb = NEB(images, climb=climb, method=method, k=0.1)

    def band_calls() -> int:
        return calls_before + counter.get(engine, 0) - calls_start

    def save() -> None:
        if checkpoint is None:
            return
        _write_band(checkpoint, images)
        write_json_atomic(
            state_file,
            {
                "steps": done + opt.nsteps,
                "force_calls": dict(counter),
                "band_calls": band_calls(),
            },
        )

    remaining = max(max_steps - done, 0)
    opt = BAND_OPTIMIZERS[optimizer](neb, logfile=logfile)
    opt.attach(save, interval=1)
    try:
        converged = bool(opt.run(fmax=fmax, steps=remaining))
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as err:
        raise ModelFailure(f"NEB optimizer failed: {err}") from err
    forces = neb.get_forces()
    band_fmax = largest_force(forces)
    converged = converged or band_fmax < fmax
    save()
    return converged, band_fmax, done + int(opt.nsteps), band_calls()


def barrier(
    initial: Atoms,
    final: Atoms,
    engine=None,
    n_images: int = DEFAULT_N_IMAGES,
    climb: bool = True,
    method: str = "improvedtangent",
    interpolation: str = "idpp",
    fmax: float = DEFAULT_FMAX_EV_A,
    fixed: Sequence[int] | None = None,
    folder: str | Path | None = None,
    *,
    calc=None,
    relax_endpoints: bool = True,
    relax_settings: RelaxSettings | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    optimizer: str = "FIRE",
    txt: str | None = None,
    gpaw_band_start: str = "ml",
) -> BarrierResult:
    """Migration barrier between two minima by climbing-image NEB (``ase.mep``).

    Parameters
    ----------
    initial, final : ase.Atoms
        Endpoint structures: same atoms in the same order, same cell.
    engine : MLIPSettings, GPAWSettings or DFTProtocol, optional
        Energy engine (default the fast ML engine, ``MLIPSettings()``).  With GPAW
        the band is converged with ML first (``engine.prerelax`` of a DFTProtocol,
        else ``MLIPSettings()``), then refined with GPAW (a protocol's ``relax``
        settings).
    n_images : int
        Moving images between the endpoints.
    climb : bool
        Climbing image (the highest image climbs to the saddle point).
    method : str
        ``ase.mep.NEB`` tangent/force method, passed explicitly.
    interpolation : {"idpp", "linear"}
        Initial path.
    fmax : float
        Convergence criterion of the band (largest NEB force, eV/A).
    fixed : sequence of int, optional
        Atoms held fixed in every image (default ``initial.info["neb_fixed"]``).
    folder : path, optional
        Checkpoint folder: a killed run resumes there, a finished one is returned
        without computing.
    calc : ase Calculator, optional
        A ready calculator of the fast engine (one is made from the ML settings
        when None; tests pass ASE's EMT).  Every image and endpoint is evaluated
        through its own counting wrapper around it, one after the other.
    relax_endpoints : bool
        Relax the endpoints first (default); when False they must already be
        minima (largest force <= the endpoint fmax) or an error is raised.
    relax_settings : RelaxSettings, optional
        Endpoint relaxation (default fmax 0.02 eV/A, 500 steps, no gallery scan).
    max_steps : int
        Optimizer step cap of the band (per engine).
    optimizer : {"FIRE", "BFGS", "MDMin"}
        Band optimizer.
    txt : str, optional
        GPAW text log prefix.
    gpaw_band_start : {"ml", "idpp"}
        With GPAW: start the GPAW band from the converged ML band (default), or
        from the ``interpolation`` path between the GPAW-relaxed endpoints with no
        ML band at all (the DFT-only reference that ``bench_barrier_dft.py``
        compares against; both relax the same endpoints the same way).

    Returns
    -------
    BarrierResult
        ``converged=False`` and barrier fields None when the band did not reach
        ``fmax`` (never reported as a barrier).

    Raises
    ------
    BarrierInputError
        Endpoints with different atoms, order or cell, identical endpoints, an
        endpoint that is not a minimum, or invalid settings.
    ModelFailure
        The engine returned nonsense (see :mod:`.guards`).
    """
    from ..engines import MLIPSettings, make_calculator

    t0 = time.perf_counter()
    name = _engine_name(engine)
    check_band_settings(
        n_images, method, interpolation, fmax, max_steps, optimizer, gpaw_band_start
    )
    check_endpoints(initial, final)
    fixed_idx = _fixed_indices(initial, fixed)
    relax_settings = relax_settings or RelaxSettings(gallery_prescan=False)
    if relax_settings.gallery_prescan:
        from dataclasses import replace

        relax_settings = replace(relax_settings, gallery_prescan=False)
    if name == "gpaw":
        ml_settings = getattr(engine, "prerelax", None) or MLIPSettings()
    else:
        ml_settings = engine if engine is not None else MLIPSettings()
    settings = dict(
        engine=name,
        engine_hash=engine.settings_hash() if engine is not None else None,
        ml_engine_hash=ml_settings.settings_hash(),
        n_images=n_images,
        climb=climb,
        method=method,
        interpolation=interpolation,
        fmax_eV_A=fmax,
        fixed=fixed_idx,
        relax_endpoints=relax_endpoints,
        relax=relax_settings.settings_hash(),
        max_steps=max_steps,
        optimizer=optimizer,
    )
    dft_only = name == "gpaw" and gpaw_band_start == "idpp"
    if dft_only:  # enters the hash only when set (finished results keep theirs)
        settings["gpaw_band_start"] = gpaw_band_start
    folder = Path(folder) if folder is not None else None
    result_file = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        result_file = folder / f"barrier.{stable_hash(settings)}.json"
        stored = read_json(result_file)
        if stored is not None:
            return BarrierResult.from_dict(stored)

    def in_folder(name_: str) -> Path | None:
        return folder / name_ if folder is not None else None

    def log(name_: str) -> str | None:
        path = in_folder(name_)
        return str(path) if path is not None else None

    counter: dict[str, int] = {}
    if folder is not None:  # force calls of an interrupted run (the latest state)
        for state_name in ("band-mlip.json", "band-gpaw.json", "band-gpaw-idpp.json"):
            stored_state = read_json(folder / state_name)
            if stored_state:
                counter.update(stored_state.get("force_calls", {}))
    ml_calc = calc or make_calculator("mlip", ml_settings)
    constraint = [FixAtoms(indices=fixed_idx)] if fixed_idx else []

    # --- endpoints (checkpointed) ---
    ends = None
    if folder is not None and (folder / ENDPOINTS_FILE).exists():
        ends = _read_band(folder / ENDPOINTS_FILE, initial, 2)
    if ends is None:
        ends = []
        for which, atoms in (("initial", initial), ("final", final)):
            start = atoms.copy()
            start.set_constraint(constraint)
            if relax_endpoints:
                counting = _CountingCalculator(ml_calc, counter, "mlip")
                relaxed = _relax_endpoint(
                    start, counting, relax_settings, which, log(f"relax-{which}.log")
                )
            else:
                relaxed = _check_minimum(
                    start, ml_calc, relax_settings.fmax_eV_A, which, counter, "mlip"
                )
            ends.append(relaxed)
        if folder is not None:
            _write_band(folder / ENDPOINTS_FILE, ends)
    for end in ends:
        end.set_constraint(constraint)
    if _hop_distance(ends[0], ends[1]) < MIN_HOP_A:
        raise BarrierInputError(
            "the endpoints relaxed into the same minimum (no atom differs by more "
            f"than {MIN_HOP_A} A): one of them is not a stable site"
        )

    # --- ML band (none for the DFT-only band) ---
    n_total = n_images + 2
    band_calls: dict[str, int] = {}
    n_steps: dict[str, int] = {}
    images = (
        _read_band(in_folder("band-mlip.traj"), initial, n_total)
        if folder and not dft_only
        else None
    )
    if images is None:  # the GPAW-only band interpolates between GPAW endpoints
        path = None if dft_only else interpolation
        images = _new_band(ends, n_images, constraint, climb, method, path)
    else:
        images[0], images[-1] = ends[0], ends[1]
        for image in images[1:-1]:
            image.calc = None
            image.set_constraint(constraint)
    ml_converged = ml_fwd = ml_bwd = None
    if not dft_only:
        # one ML calculator behind every image (each image its own counting
        # wrapper): images are evaluated one after the other, the network loaded once
        ml_converged, band_fmax, n_steps["mlip"], band_calls["mlip"] = _run_band(
            images,
            [ml_calc] * n_images,
            climb=climb,
            method=method,
            fmax=fmax,
            max_steps=max_steps,
            optimizer=optimizer,
            checkpoint=in_folder("band-mlip.traj"),
            state_file=in_folder("band-mlip.json"),
            counter=counter,
            engine="mlip",
            logfile=log("band-mlip.log"),
        )
        summary = _band_summary(images)
        if ml_converged:
            ml_fwd, ml_bwd = summary["barrier_fwd_eV"], summary["barrier_bwd_eV"]
    converged = bool(ml_converged)
    band_file = "band-mlip.traj"
    reason = "" if ml_converged else "ML band not converged"

    # --- GPAW refinement from the converged ML band, or the GPAW-only band ---
    if name == "gpaw" and (ml_converged or dft_only):
        converged, band_fmax, summary, n_steps["gpaw"], band_calls["gpaw"] = (
            _refine_gpaw(
                images,
                _gpaw_settings(engine),
                relax_settings,
                climb=climb,
                method=method,
                fmax=fmax,
                max_steps=max_steps,
                optimizer=optimizer,
                folder=folder,
                counter=counter,
                constraint=constraint,
                txt=txt,
                band_start=interpolation if dft_only else "ml",
            )
        )
        band_file = "band-gpaw-idpp.traj" if dft_only else "band-gpaw.traj"
        reason = "" if converged else "GPAW band not converged"
    elif name == "gpaw":
        reason = "ML band not converged: no GPAW refinement"
        converged = False

    return _finish(
        converged,
        summary,
        engine=name,
        n_images=n_images,
        method=method,
        climb=climb,
        interpolation=interpolation,
        fmax_eV_A=band_fmax,
        fmax_target_eV_A=fmax,
        force_calls=dict(counter),
        n_steps=n_steps,
        wall_s=time.perf_counter() - t0,
        hop_distance_A=_hop_distance(ends[0], ends[1]),
        ml_barrier_fwd_eV=ml_fwd,
        ml_barrier_bwd_eV=ml_bwd,
        ml_converged=ml_converged,
        images_file=band_file if folder is not None else None,
        reason=reason,
        settings=settings,
        band_force_calls=band_calls,
        gpaw_band_start=gpaw_band_start,
        result_file=result_file,
    )


def _new_band(
    ends: list[Atoms],
    n_images: int,
    constraint: list,
    climb: bool,
    method: str,
    interpolation: str | None,
) -> list[Atoms]:
    """Endpoints and ``n_images`` constrained copies of the first, interpolated
    along ``interpolation`` ("idpp", "linear"; None leaves them unplaced)."""
    images = [ends[0]] + [ends[0].copy() for _ in range(n_images)] + [ends[1]]
    for image in images[1:-1]:
        image.set_constraint(constraint)
    if interpolation is not None:
        NEB(images, climb=climb, method=method).interpolate(
            method=interpolation, mic=True, apply_constraint=True
        )
    return images


def _finish(
    converged: bool, summary: dict, result_file: Path | None, **fields_
) -> BarrierResult:
    """The result (barrier fields None when the band did not converge: never
    reported as a barrier), written to ``result_file`` when given."""
    if not converged:
        for key in ("barrier_fwd_eV", "barrier_bwd_eV", "barrier_raw_fwd_eV"):
            summary[key] = None
    result = BarrierResult(converged=converged, **fields_, **summary)
    if result_file is not None:
        write_json_atomic(result_file, result.to_dict())
    return result


def _refine_gpaw(
    ml_images: list[Atoms],
    gpaw_settings,
    relax_settings: RelaxSettings,
    *,
    climb: bool,
    method: str,
    fmax: float,
    max_steps: int,
    optimizer: str,
    folder: Path | None,
    counter: dict,
    constraint: list,
    txt: str | None,
    band_start: str = "ml",
):
    """Relax the endpoints with GPAW, then the band from the ML band's images
    (``band_start="ml"``) or from the ``band_start`` interpolation ("idpp",
    "linear") between the GPAW endpoints; returns (converged, fmax, summary, steps,
    band calls)."""
    from ..engines.gpaw import gpaw_calculator
    from .staged import last_frame

    def new_calc(atoms: Atoms, tag: str):
        log = str(folder / f"gpaw-{tag}.txt") if folder is not None else txt
        # symmetry off: atoms move off symmetric positions along the band
        calc, _ = gpaw_calculator(gpaw_settings, atoms, txt=log, symmetry=False)
        return calc

    ends = []
    # both endpoints in one file: written by the first version of this function
    both = folder / "endpoints-gpaw.traj" if folder is not None else None
    both = _read_band(both, ml_images[0], 2) if both is not None else None
    for k, (which, atoms) in enumerate(
        (("initial", ml_images[0]), ("final", ml_images[-1]))
    ):
        # each endpoint checkpointed on its own: a kill loses at most one relaxation
        path = folder / f"endpoint-gpaw-{which}.traj" if folder is not None else None
        done = _read_band(path, atoms, 1) if path is not None else None
        if done is None and both is not None:
            done = [both[k]]
        if done is not None:
            ends.append(done[0])
            continue
        # every step is appended to relax-gpaw-<which>.traj: a killed relaxation
        # resumes from its last step (a 39-atom endpoint with vacuum takes hours)
        steps = folder / f"relax-gpaw-{which}.traj" if folder is not None else None
        resumed = last_frame(steps, atoms)[0] if steps is not None else None
        start = resumed if resumed is not None else atoms.copy()
        start.set_constraint(constraint)
        counting = _CountingCalculator(new_calc(start, which), counter, "gpaw")
        relaxed = _relax_endpoint(
            start,
            counting,
            relax_settings,
            which,
            str(folder / f"relax-gpaw-{which}.log") if folder else None,
            trajectory=str(steps) if steps is not None else None,
        )
        if path is not None:
            _write_band(path, [relaxed])
        ends.append(relaxed)
    for end in ends:
        end.set_constraint(constraint)
    n = len(ml_images)
    stem = "band-gpaw" if band_start == "ml" else "band-gpaw-idpp"
    band_path = folder / f"{stem}.traj" if folder is not None else None
    images = _read_band(band_path, ml_images[0], n) if band_path else None
    if images is None and band_start != "ml":
        images = _new_band(ends, n - 2, constraint, climb, method, band_start)
    elif images is None:
        # the ML band's interior, shifted by the endpoints' DFT relaxation blended
        # linearly along the band (image k of n moves by (1 - t) d_initial + t
        # d_final, t = k / (n - 1)), so that it starts consistent with them
        d_initial = ends[0].positions - ml_images[0].positions
        d_final = ends[1].positions - ml_images[-1].positions
        images = [ends[0]]
        for k, ml_image in enumerate(ml_images[1:-1], 1):
            t = k / (n - 1)
            image = ml_image.copy()
            image.set_constraint()
            image.positions = ml_image.positions + (1 - t) * d_initial + t * d_final
            images.append(image)
        images.append(ends[1])
    else:
        images[0], images[-1] = ends[0], ends[1]
    for image in images[1:-1]:
        image.calc = None
        image.set_constraint(constraint)
    calcs = [new_calc(image, f"image{i}") for i, image in enumerate(images[1:-1], 1)]
    converged, band_fmax, steps, calls = _run_band(
        images,
        calcs,
        climb=climb,
        method=method,
        fmax=fmax,
        max_steps=max_steps,
        optimizer=optimizer,
        checkpoint=band_path,
        state_file=folder / f"{stem}.json" if folder is not None else None,
        counter=counter,
        engine="gpaw",
        logfile=str(folder / f"{stem}.log") if folder is not None else None,
    )
    return converged, band_fmax, _band_summary(images), steps, calls
