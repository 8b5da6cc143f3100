"""Sequential filling of a pore model with metal atoms, one (or a few) at a time.

Algorithm (deterministic for a given ``seed``)
----------------------------------------------
1. Relax the empty pore: ``E(0)``.
2. At each step, on the current relaxed structure, enumerate the free sites
   (:func:`~alkali_layers.builders.sites.enumerate_sites`: edge, vacancy,
   interlayer, pore interior) and build competing candidate sets of
   ``atoms_per_step`` sites each:

   * per site kind, ``near`` (next to the metal already present: growth) and
     ``far`` (away from it: new nucleation);
   * pore growth modes: ``cluster`` (compact, around the metal already in the
     pore), ``plate`` (layer by layer from the lower wall), ``sandwich`` (both
     wall layers alternately);
   * ``n_random`` random sets drawn with the seeded generator.

3. Rank every candidate cheaply: a single point (``rank_steps=0``) or a short
   pre-relaxation of ``rank_steps`` optimizer steps
   (:func:`~alkali_layers.calculators.relax.relax` with a step cap).
4. Fully relax only the best ``n_relax`` (``exhaustive=True`` relaxes all of them,
   the reference the cheap search is checked against) and keep the lowest energy.
   The next step starts from this geometry.
5. Record ``E(n)``, the chosen candidate (the configuration path), the ranking,
   timings and the step voltage ``-(E(n) - E(n - k) - k mu_M) / k`` (V vs M+/M).

A step takes fewer atoms when no set of ``atoms_per_step`` free sites is left.
Stops at ``n_max`` metal atoms, when no free site is left, or after
``stop_patience`` consecutive steps below ``stop_below_V`` (plating region).

Long fillings resume: the result written after every step
(:meth:`FillingResult.write`, JSON + ``.traj``) holds the relaxed structures and the
state of the random generator, and ``sequential_filling(..., resume=path)``
continues from its last step exactly as the uninterrupted run would have.  The
checkpoint names its pore by a structure hash
(:func:`~alkali_layers.settings.structure_hash` of the empty pore), so a filling
resumes only into the very same pore (not another one of the same formula), and
the JSON records the frame count and sha256 of its ``.traj``: the pair is written as
one unit (trajectory first, JSON last, both renamed from temporary files) and a torn
pair (interrupted between the two renames) is refused when read.

The engine is injected: an ASE calculator, or a factory called once with no
arguments (so tests can pass a cheap toy calculator).  ``mu_M`` (the relaxed bcc
metal, same engine) comes from
:class:`~alkali_layers.calculators.references.ReferenceEnergies` unless given.
Every relaxation runs under the guards of :mod:`alkali_layers.calculators.relax`; a
candidate that fails them is dropped with its reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.geometry import get_distances

from ..builders.pores import FILL_MODES
from ..builders.sites import SITE_KINDS, Site, enumerate_sites
from ..calculators.guards import ModelFailure
from ..calculators.references import ReferenceEnergies
from ..calculators.relax import RelaxResult, RelaxSettings, relax
from ..elements import check_metal, metal_data
from ..geometry import TAG_METAL_FIRST_LAYER, metal_mask
from ..settings import structure_hash

#: Relaxation of the kept candidates: 0.05 eV/A is enough to order configurations
#: that differ by tenths of an eV; the sheets of a pore model are stiff in-plane.
DEFAULT_FILL_RELAX = RelaxSettings(fmax_eV_A=0.05, max_steps=200, gallery_prescan=False)


@dataclass(frozen=True)
class FillingSettings:
    """Settings of :func:`sequential_filling`.

    Attributes
    ----------
    atoms_per_step : int
        Metal atoms added per step.
    n_max : int, optional
        Stop at this many metal atoms (default: no limit).
    max_candidates : int
        Cap on candidate configurations per step.
    n_random : int
        Random candidate sets per step (seeded).
    n_relax : int
        Candidates fully relaxed per step (the best-ranked ones).
    rank_steps : int
        Optimizer steps of the ranking pre-relaxation (0: single points).  The
        defaults (5 steps, best 3 relaxed) picked the exhaustive optimum at every
        step of the small-pore benchmark, where single-point ranking missed it;
        in the 1 nm closed pore single-point ranking with the best 2 relaxed and
        30-step caps ended 0.3-0.4 eV higher per step for Na
        (``runs/hard_carbon/protocol_check.md``).  Not a guarantee: in the first
        Na step of the wedge pore the optimum was 4th/5th of the ranking and the
        defaults missed it by 0.31 eV (``benchmarks/results/filling.md``); use
        ``exhaustive`` where candidates relax far.
    exhaustive : bool
        Fully relax every candidate (reference for the cheap search).
    relax : RelaxSettings
        Settings of the full relaxations (also of the empty pore).
    stop_below_V : float, optional
        Stop after ``stop_patience`` consecutive steps below this voltage (V).
    stop_patience : int
        See ``stop_below_V``.
    seed : int
        Seed of the random candidates.
    kinds : tuple of str
        Site kinds used (subset of ``SITE_KINDS``).
    modes : tuple of str
        Pore growth modes used (subset of ``FILL_MODES``).
    """

    atoms_per_step: int = 1
    n_max: int | None = None
    max_candidates: int = 12
    n_random: int = 2
    n_relax: int = 3
    rank_steps: int = 5
    exhaustive: bool = False
    relax: RelaxSettings = DEFAULT_FILL_RELAX
    stop_below_V: float | None = -0.3
    stop_patience: int = 2
    seed: int = 0
    kinds: tuple[str, ...] = SITE_KINDS
    modes: tuple[str, ...] = FILL_MODES

    def __post_init__(self) -> None:
        for name in ("atoms_per_step", "max_candidates", "n_relax"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("n_random", "rank_steps", "stop_patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.n_max is not None and (
            not isinstance(self.n_max, int) or self.n_max < 1
        ):
            raise ValueError(f"n_max must be an integer >= 1, got {self.n_max!r}")
        for k in self.kinds:
            if k not in SITE_KINDS:
                raise ValueError(
                    f"unknown site kind {k!r}; allowed: {', '.join(SITE_KINDS)}"
                )
        for m in self.modes:
            if m not in FILL_MODES:
                raise ValueError(
                    f"unknown mode {m!r}; allowed: {', '.join(FILL_MODES)}"
                )

    def to_dict(self) -> dict:
        """The settings as stored with a result; the relaxation settings as their
        :meth:`~alkali_layers.calculators.relax.RelaxSettings.key_dict` (fields
        added later appear only when set, so stored results keep matching)."""
        return {**asdict(self), "relax": self.relax.key_dict()}


@dataclass(frozen=True)
class Candidate:
    """A set of sites to occupy in one step; ``label`` says how it was generated."""

    label: str
    sites: tuple[Site, ...]

    @property
    def kinds(self) -> str:
        return "+".join(
            f"{k}{'x' + str(n) if n > 1 else ''}"
            for k, n in sorted(Counter(s.kind for s in self.sites).items())
        )


@dataclass
class FillingStep:
    """One accepted step of the filling (energies in eV, voltage in V vs M+/M)."""

    n_metal: int
    energy_eV: float
    label: str
    kinds: str
    added_A: list[list[float]]
    n_candidates: int = 0
    ranking: list[tuple[str, float]] = field(default_factory=list)
    relaxed: list[tuple[str, float, bool]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    converged: bool = True
    fmax_eV_A: float = 0.0
    force_calls: int = 0
    wall_s: float = 0.0
    voltage_step_V: float | None = None


@dataclass
class FillingResult:
    """E(n) and the configuration path of a sequential filling."""

    metal: str
    mu_metal_eV: float
    host_counts: dict[str, int]
    settings: dict
    steps: list[FillingStep] = field(default_factory=list)
    structures: list[Atoms] = field(default_factory=list, repr=False)
    wall_s: float = 0.0
    #: state of the seeded generator after the last step (for resuming)
    rng_state: dict | None = field(default=None, repr=False)
    #: :func:`~alkali_layers.settings.structure_hash` of the empty pore that was
    #: filled (None in results written before it was recorded: unverified)
    pore_hash: str | None = None

    @property
    def n_metal(self) -> list[int]:
        return [s.n_metal for s in self.steps]

    @property
    def energy_eV(self) -> list[float]:
        return [s.energy_eV for s in self.steps]

    @property
    def path(self) -> list[str]:
        """Labels of the chosen candidates (the configuration path)."""
        return [s.label for s in self.steps]

    def voltage_profile(self, basis: str = "host"):
        """:func:`~alkali_layers.analysis.hard_carbon.voltage_profile` of E(n)."""
        from ..analysis.hard_carbon import voltage_profile

        return voltage_profile(
            self.n_metal,
            self.energy_eV,
            self.mu_metal_eV,
            self.metal,
            self.host_counts,
            basis,
        )

    def to_dict(self) -> dict:
        return dict(
            metal=self.metal,
            mu_metal_eV=self.mu_metal_eV,
            host_counts=self.host_counts,
            settings=self.settings,
            wall_s=self.wall_s,
            steps=[asdict(s) for s in self.steps],
            rng_state=self.rng_state,
            pore_hash=self.pore_hash,
        )

    @classmethod
    def read(cls, path) -> FillingResult:
        """Read a result written by :meth:`write` (JSON and, if present, ``.traj``).

        When the JSON records its trajectory (``traj_frames``, ``traj_sha256``;
        written since the pair is written as one unit), the ``.traj`` must be the
        one it records: a missing or different file (a write interrupted between the
        trajectory and the JSON, or a file replaced by hand) raises ``ValueError``.
        Older results (no record) read whatever ``.traj`` lies beside them.
        """
        from ase.io import read

        path = Path(path)
        data = json.loads(path.read_text())
        steps = []
        for d in data["steps"]:
            d = dict(d)
            for key in ("ranking", "relaxed", "failed"):
                d[key] = [tuple(t) for t in d.get(key, [])]
            steps.append(FillingStep(**d))
        traj = path.with_suffix(".traj")
        frames = data.get("traj_frames")
        if frames is None:  # written before the pair was recorded: unverified
            structures = read(traj, index=":") if traj.exists() else []
        elif frames == 0:
            structures = []
        else:
            _check_trajectory(path, traj, frames, data.get("traj_sha256"))
            structures = read(traj, index=":")
        return cls(
            metal=data["metal"],
            mu_metal_eV=data["mu_metal_eV"],
            host_counts=data["host_counts"],
            settings=data["settings"],
            steps=steps,
            structures=list(structures),
            wall_s=data.get("wall_s", 0.0),
            rng_state=data.get("rng_state"),
            pore_hash=data.get("pore_hash"),
        )

    @staticmethod
    def discard(path) -> None:
        """Delete a result written by :meth:`write` (JSON, ``.traj``, temporaries)."""
        path = Path(path)
        traj = path.with_suffix(".traj")
        path.unlink(missing_ok=True)
        traj.unlink(missing_ok=True)
        path.with_name(path.name + ".tmp").unlink(missing_ok=True)
        traj.with_name(traj.name + ".tmp.traj").unlink(missing_ok=True)

    def write(self, path) -> Path:
        """Write the result as JSON and the structures as ``.traj``, as one unit.

        Both go to temporary names first; the trajectory is renamed into place
        first and the JSON last, and the JSON records the trajectory's frame count
        and sha256 (``traj_frames``, ``traj_sha256``).  A job killed between the
        two renames leaves a new ``.traj`` beside the old JSON, which :meth:`read`
        detects and refuses.  Returns the JSON path.
        """
        from ase.io import write

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        data.update(traj_frames=len(self.structures), traj_sha256=None)
        tmp_traj = None
        if self.structures:
            traj = path.with_suffix(".traj")
            tmp_traj = traj.with_name(traj.name + ".tmp.traj")
            write(tmp_traj, self.structures, format="traj")
            data["traj_sha256"] = _file_sha256(tmp_traj)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=_jsonable))
        if tmp_traj is not None:
            tmp_traj.replace(path.with_suffix(".traj"))
        tmp.replace(path)
        return path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_trajectory(path: Path, traj: Path, frames: int, sha256: str | None) -> None:
    """``ValueError`` unless ``traj`` is the trajectory that JSON ``path`` records."""
    advice = (
        "the JSON and its .traj do not belong together (a torn pair: a write "
        "interrupted between the two files, or a file removed or replaced); delete "
        "both (FillingResult.discard) and start the filling afresh"
    )
    if not traj.exists():
        raise ValueError(
            f"{path} records a {frames}-frame trajectory {traj.name}, which is "
            f"missing: {advice}"
        )
    if sha256 is not None and _file_sha256(traj) != sha256:
        raise ValueError(
            f"{traj} is not the trajectory that {path} records ({frames} frames, "
            f"sha256 {sha256[:12]}...): {advice}"
        )


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj)}")


def get_calculator(engine):
    """The calculator of ``engine``: a calculator itself or a zero-argument factory."""
    if not isinstance(engine, type) and (
        hasattr(engine, "get_potential_energy") or hasattr(engine, "calculate")
    ):
        return engine
    if callable(engine):  # a factory, or a calculator class
        return engine()
    raise ValueError("engine must be an ASE calculator or a factory returning one")


# --------------------------------------------------------------------------- sets
class _Geometry:
    """Minimum-image distances in the orthorhombic cell of a pore model."""

    def __init__(self, atoms: Atoms):
        self.lengths = np.diag(atoms.cell.array).copy()

    def dist(self, points: np.ndarray, p: np.ndarray) -> np.ndarray:
        d = np.asarray(points, dtype=float).reshape(-1, 3) - np.asarray(p)
        d -= self.lengths * np.round(d / self.lengths)
        return np.linalg.norm(d, axis=1)

    def nearest(self, points: np.ndarray, refs: np.ndarray) -> np.ndarray:
        """Distance of each point to its nearest ref (inf without refs)."""
        if not len(refs):
            return np.full(len(points), np.inf)
        return np.array([self.dist(refs, p).min() for p in points])


def _greedy(
    geo: _Geometry,
    pool: list[Site],
    k: int,
    min_sep: float,
    first_key: np.ndarray,
    compact: bool,
) -> tuple[Site, ...] | None:
    """``k`` sites: the best by ``first_key``, then nearest (compact) or farthest."""
    if len(pool) < k:
        return None
    pos = np.array([s.position_A for s in pool])
    order = np.lexsort((np.arange(len(pool)), np.round(first_key, 6)))
    chosen = [int(order[0])]
    while len(chosen) < k:
        d = np.array([geo.dist(pos[chosen], p).min() for p in pos])
        ok = d >= min_sep
        ok[chosen] = False
        if not ok.any():
            return None
        key = np.where(ok, d if compact else -d, np.inf)
        chosen.append(int(np.lexsort((np.arange(len(pool)), np.round(key, 6)))[0]))
    return tuple(pool[i] for i in chosen)


_LAYER = re.compile(r"^pore(\d+):layer(\d+):")


def candidate_sets(
    atoms: Atoms,
    sites: list[Site],
    metal: str,
    k: int,
    rng: np.random.Generator,
    settings: FillingSettings,
) -> list[Candidate]:
    """Competing sets of ``k`` sites for the next step (see the module docstring)."""
    geo = _Geometry(atoms)
    data = metal_data(metal)
    min_sep = 0.9 * data.close_packed_nn_A
    metal_pos = atoms.positions[metal_mask(atoms)]
    out: list[Candidate] = []

    def add(label: str, chosen) -> None:
        if chosen:
            out.append(Candidate(label, tuple(chosen)))

    pore = [s for s in sites if s.kind == "pore" and _LAYER.match(s.label)]
    if pore:
        pos = np.array([s.position_A for s in pore])
        layer = np.array([int(_LAYER.match(s.label).group(2)) for s in pore])
        top = layer.max()
        near = geo.nearest(pos, metal_pos)
        near_or_centre = np.where(np.isinf(near), geo.dist(pos, pos.mean(axis=0)), near)
        for mode in settings.modes:
            if mode == "cluster":
                add(
                    "pore/cluster", _greedy(geo, pore, k, min_sep, near_or_centre, True)
                )
            elif mode == "plate":
                key = layer * 1e3 + near_or_centre
                add("pore/plate", _greedy(geo, pore, k, min_sep, key, True))
            elif mode == "sandwich" and top > 0:
                outer = [i for i in range(len(pore)) if layer[i] in (0, top)]
                sub = [pore[i] for i in outer]
                chosen: list[Site] = []
                for side in (0, top) * k:
                    if len(chosen) == k:
                        break
                    cand = [
                        s
                        for i, s in zip(outer, sub, strict=True)
                        if layer[i] == side
                        and (
                            not chosen
                            or geo.dist(
                                np.array([c.position_A for c in chosen]),
                                np.array(s.position_A),
                            ).min()
                            >= min_sep
                        )
                    ]
                    if cand:
                        p = np.array([s.position_A for s in cand])
                        key = geo.nearest(p, metal_pos)
                        key = np.where(np.isinf(key), 0.0, key)
                        chosen.append(
                            cand[int(np.lexsort((np.arange(len(cand)), key))[0])]
                        )
                if len(chosen) == k:
                    add("pore/sandwich", chosen)
    for kind in settings.kinds:
        pool = [s for s in sites if s.kind == kind]
        if not pool:
            continue
        # sites of this kind first; other kinds complete a set when too few
        others = [s for s in sites if s.kind != kind]
        ext = pool + others
        pos = np.array([s.position_A for s in pool])
        near = geo.nearest(pos, metal_pos)
        pad = np.full(len(others), 1e6)
        if np.all(np.isinf(near)):
            key = np.concatenate([np.zeros(len(pool)), pad])
            add(f"{kind}/first", _greedy(geo, ext, k, min_sep, key, True))
            continue
        key = np.concatenate([near, pad])
        add(f"{kind}/near", _greedy(geo, ext, k, min_sep, key, True))
        add(
            f"{kind}/far",
            _greedy(geo, ext, k, min_sep, np.concatenate([-near, pad]), False),
        )
    for r in range(settings.n_random):
        perm = rng.permutation(len(sites))
        chosen = []
        for i in perm:
            s = sites[i]
            if all(
                geo.dist(np.array([c.position_A]), np.array(s.position_A))[0] >= min_sep
                for c in chosen
            ):
                chosen.append(s)
            if len(chosen) == k:
                break
        if len(chosen) == k:
            add(f"random/{r}", chosen)
    unique: list[Candidate] = []
    seen: set = set()
    for cand in out:
        key = frozenset(tuple(np.round(s.position_A, 2)) for s in cand.sites)
        if key not in seen:
            seen.add(key)
            unique.append(cand)
    return unique[: settings.max_candidates]


# --------------------------------------------------------------------------- steps
def _with_metal(atoms: Atoms, metal: str, cand: Candidate) -> Atoms:
    out = atoms.copy()
    out.calc = None
    add = Atoms(
        f"{metal}{len(cand.sites)}",
        positions=[s.position_A for s in cand.sites],
        tags=[TAG_METAL_FIRST_LAYER] * len(cand.sites),
    )
    out += add
    out.wrap()
    out.info["metal"] = metal
    out.info["n_metal"] = int(metal_mask(out).sum())
    return out


def host_counts(atoms: Atoms, metal: str) -> dict[str, int]:
    """Element counts of the host (everything but ``metal``)."""
    counts = Counter(atoms.get_chemical_symbols())
    counts.pop(metal, None)
    return dict(sorted(counts.items()))


def sequential_filling(
    pore: Atoms,
    metal: str,
    engine,
    settings: FillingSettings | None = None,
    mu_metal_eV: float | None = None,
    references: ReferenceEnergies | None = None,
    progress: Callable[[str], None] | None = None,
    checkpoint: Callable[[FillingResult], None] | None = None,
    resume: FillingResult | str | Path | None = None,
) -> FillingResult:
    """Fill ``pore`` with ``metal`` step by step; record E(n) and the path.

    Parameters
    ----------
    pore : ase.Atoms
        An empty pore model (:func:`~alkali_layers.builders.pores.wedge_pore`,
        :func:`~alkali_layers.builders.pores.closed_pore`, ...).
    metal : str
        Li, Na, K, Rb or Cs.
    engine : ASE calculator or zero-argument factory
        The energy engine (e.g. ``make_calculator("mlip")``).
    settings : FillingSettings, optional
    mu_metal_eV : float, optional
        Energy per atom of bulk metal (eV); default: the relaxed bcc metal with the
        same engine (:class:`ReferenceEnergies`).
    references : ReferenceEnergies, optional
        Shared references (reused across calls).
    progress : callable, optional
        Called with one line of text per step.
    checkpoint : callable, optional
        Called with the result so far after every step (e.g. ``lambda r:
        r.write(path)``).
    resume : FillingResult or path, optional
        A partial result of the same filling (same pore, metal and settings, as
        written by a checkpoint): continue after its last step instead of starting
        over.  Its ``mu_metal_eV`` is used.  Raises ``ValueError`` if it belongs to
        another filling: another metal or settings, or another pore (by
        :func:`~alkali_layers.settings.structure_hash` of the empty pore; a result
        written before the hash was recorded is matched by formula only, with a
        warning), or if its JSON and ``.traj`` do not belong together.

    Returns
    -------
    FillingResult
        Steps with ``E(n)`` (eV), the chosen candidates and timings; the relaxed
        structures of every step in ``structures``.
    """
    check_metal(metal)
    settings = settings or FillingSettings()
    calc = get_calculator(engine)
    say = progress or (lambda _line: None)
    t_start = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    pore_hash = structure_hash(pore)
    if resume is not None:
        result = _resumable(resume, pore, metal, settings, pore_hash)
        rng.bit_generator.state = result.rng_state
        t_start -= result.wall_s  # wall_s stays the total over all sessions
        say(
            f"{metal}: resumed at n = {result.steps[-1].n_metal} "
            f"({len(result.steps) - 1} steps done)"
        )
    else:
        if mu_metal_eV is None:
            references = references or ReferenceEnergies(calc, settings.relax)
            mu_metal_eV = references.metal_eV_per_atom(metal)
        empty = relax(pore, calc, settings.relax)
        result = FillingResult(
            metal=metal,
            mu_metal_eV=float(mu_metal_eV),
            host_counts=host_counts(pore, metal),
            settings=settings.to_dict(),
            rng_state=rng.bit_generator.state,
            pore_hash=pore_hash,
        )
        result.steps.append(
            FillingStep(
                n_metal=pore.get_chemical_symbols().count(metal),
                energy_eV=empty.energy_eV,
                label="start",
                kinds="",
                added_A=[],
                converged=empty.converged,
                fmax_eV_A=empty.fmax_eV_A,
                force_calls=empty.n_steps + 1,
                wall_s=empty.wall_s,
            )
        )
        result.structures.append(empty.atoms)
        say(f"{metal}: start E = {empty.energy_eV:.4f} eV ({empty.wall_s:.1f} s)")
    mu_metal_eV = result.mu_metal_eV
    current = result.structures[-1]
    below = _steps_below(result, settings)
    rank_settings = replace(settings.relax, max_steps=settings.rank_steps)
    while True:
        n_now = result.steps[-1].n_metal
        if settings.n_max is not None and n_now >= settings.n_max:
            break
        k = settings.atoms_per_step
        if settings.n_max is not None:
            k = min(k, settings.n_max - n_now)
        t0 = time.perf_counter()
        sites = enumerate_sites(current, metal, settings.kinds)
        cands = candidate_sets(current, sites, metal, k, rng, settings)
        while not cands and k > 1:  # room for fewer atoms: take a smaller step
            k -= 1
            cands = candidate_sets(current, sites, metal, k, rng, settings)
        if not cands:
            say(f"{metal}: no free sites for {k} more atom(s); stop at n = {n_now}")
            break
        calls = 0
        failed: list[tuple[str, str]] = []
        ranked: list[tuple[float, int, RelaxResult]] = []
        for i, cand in enumerate(cands):
            try:
                r = relax(_with_metal(current, metal, cand), calc, rank_settings)
            except ModelFailure as err:
                failed.append((cand.label, err.reason))
                continue
            calls += r.n_steps + 1
            ranked.append((r.energy_eV, i, r))
            say(
                f"{metal}:   rank {i + 1}/{len(cands)} {cand.label}: "
                f"E = {r.energy_eV:.4f} eV ({r.n_steps + 1} force calls)"
            )
        ranked.sort(key=lambda t: (t[0], t[1]))
        if not ranked:
            say(f"{metal}: every candidate failed at n = {n_now}; stop")
            break
        n_full = len(ranked) if settings.exhaustive else settings.n_relax
        relaxed: list[tuple[float, int, RelaxResult]] = []
        for _e_rank, i, r in ranked[:n_full]:
            try:
                full = relax(r.atoms, calc, settings.relax)
            except ModelFailure as err:
                failed.append((cands[i].label, err.reason))
                continue
            calls += full.n_steps + 1
            relaxed.append((full.energy_eV, i, full))
            say(
                f"{metal}:   relaxed {cands[i].label}: E = {full.energy_eV:.4f} eV, "
                f"fmax {full.fmax_eV_A:.3f} eV/A ({full.n_steps + 1} force calls)"
            )
        if not relaxed:
            say(f"{metal}: every relaxation failed at n = {n_now}; stop")
            break
        relaxed.sort(key=lambda t: (t[0], t[1]))
        energy, i_best, best = relaxed[0]
        cand = cands[i_best]
        prev = result.steps[-1]
        dn = k
        volt = -(energy - prev.energy_eV - dn * mu_metal_eV) / dn
        step = FillingStep(
            n_metal=n_now + k,
            energy_eV=energy,
            label=cand.label,
            kinds=cand.kinds,
            added_A=[list(map(float, s.position_A)) for s in cand.sites],
            n_candidates=len(cands),
            ranking=[(cands[i].label, float(e)) for e, i, _ in ranked],
            relaxed=[(cands[i].label, float(e), r.converged) for e, i, r in relaxed],
            failed=failed,
            converged=best.converged,
            fmax_eV_A=best.fmax_eV_A,
            force_calls=calls,
            wall_s=time.perf_counter() - t0,
            voltage_step_V=float(volt),
        )
        result.steps.append(step)
        result.structures.append(best.atoms)
        current = best.atoms
        result.wall_s = time.perf_counter() - t_start
        result.rng_state = rng.bit_generator.state
        if checkpoint is not None:
            checkpoint(result)
        say(
            f"{metal}: n = {step.n_metal:3d}  {cand.label:16s} E = {energy:.4f} eV  "
            f"V = {volt:+.3f} V  ({len(cands)} candidates, {calls} force calls, "
            f"{step.wall_s:.0f} s)"
        )
        if settings.stop_below_V is not None and volt < settings.stop_below_V:
            below += 1
            if below >= max(settings.stop_patience, 1):
                say(f"{metal}: {below} steps below {settings.stop_below_V} V; stop")
                break
        else:
            below = 0
    result.wall_s = time.perf_counter() - t_start
    return result


def _steps_below(result: FillingResult, settings: FillingSettings) -> int:
    """Consecutive steps at the end of ``result`` below ``stop_below_V``."""
    below = 0
    if settings.stop_below_V is None:
        return below
    for step in reversed(result.steps[1:]):
        if step.voltage_step_V is None or step.voltage_step_V >= settings.stop_below_V:
            break
        below += 1
    return below


def _resumable(
    resume: FillingResult | str | Path,
    pore: Atoms,
    metal: str,
    settings: FillingSettings,
    pore_hash: str | None = None,
) -> FillingResult:
    """Check that a partial result continues this filling; return it.

    The pore must be the same structure (``pore_hash``, the
    :func:`~alkali_layers.settings.structure_hash` of ``pore``).  A result without
    a recorded hash (written by an older version) is accepted when the formula of
    its first structure matches, with a ``UserWarning`` that the pore is unverified.
    """
    src = str(resume) if not isinstance(resume, FillingResult) else "the result"
    if not isinstance(resume, FillingResult):
        try:
            resume = FillingResult.read(resume)
        except ValueError as err:
            raise ValueError(f"cannot resume the {metal} filling: {err}") from None
    pore_hash = pore_hash or structure_hash(pore)

    def canonical(d: dict) -> str:
        return json.dumps(d, sort_keys=True, default=_jsonable)

    problems = []
    if resume.metal != metal:
        problems.append(f"metal {resume.metal}, not {metal}")
    if canonical(resume.settings) != canonical(settings.to_dict()):
        problems.append("other FillingSettings")
    if len(resume.structures) != len(resume.steps) or not resume.steps:
        problems.append(
            f"{len(resume.steps)} steps but {len(resume.structures)} structures "
            "(was the .traj written beside the JSON?)"
        )
    elif resume.pore_hash is not None:
        if resume.pore_hash != pore_hash:
            problems.append(
                f"another pore (structure hash {resume.pore_hash}, not {pore_hash}; "
                f"formula {resume.structures[0].get_chemical_formula()}, "
                f"not {pore.get_chemical_formula()})"
            )
    elif resume.structures[0].get_chemical_formula() != pore.get_chemical_formula():
        problems.append(
            f"another pore ({resume.structures[0].get_chemical_formula()}, "
            f"not {pore.get_chemical_formula()})"
        )
    else:
        warnings.warn(
            f"{src} records no structure hash of its pore (written by an older "
            "version): the pore is identified by formula only "
            f"({pore.get_chemical_formula()}), unverified",
            UserWarning,
            stacklevel=3,
        )
    if resume.rng_state is None:
        problems.append("no random-generator state (written by an older version)")
    if problems:
        raise ValueError(
            f"cannot resume the {metal} filling from {src}: {'; '.join(problems)}. "
            "Start afresh (delete the partial result) or pass the matching settings."
        )
    return resume


def same_path(
    a: FillingResult,
    b: FillingResult,
    tol_eV: float = 1e-3,
    cell=None,
    pbc=None,
) -> bool:
    """True if two fillings chose the same configurations (sites within 0.5 A).

    Sites are compared with the minimum-image convention, so an atom wrapped
    across the periodic boundary is the same site.  A step whose sites differ
    still counts as the same if its energies agree within ``tol_eV``.

    Parameters
    ----------
    a, b : FillingResult
    tol_eV : float
        Energy tolerance (eV) of a step whose sites differ.
    cell, pbc : optional
        Cell (3 x 3, A) and periodicity of the sites; default: those of the
        structure of each step of ``a`` (else ``b``), or of its first structure;
        without any structure and ``cell``, plain Cartesian distances.
    """
    if len(a.steps) != len(b.steps):
        return False
    for n, (sa, sb) in enumerate(zip(a.steps, b.steps, strict=True)):
        if sa.n_metal != sb.n_metal:
            return False
        pa, pb = (
            np.array(sa.added_A, dtype=float).reshape(-1, 3),
            np.array(sb.added_A, dtype=float).reshape(-1, 3),
        )
        if len(pa) != len(pb):
            return False
        same_sites = True
        if len(pa):
            step_cell, step_pbc = _step_cell(a, b, n, cell, pbc)
            d = get_distances(pa, pb, cell=step_cell, pbc=step_pbc)[1]
            same_sites = bool(np.all(d.min(axis=1) < 0.5))
        if not same_sites and abs(sa.energy_eV - sb.energy_eV) > tol_eV:
            return False
    return True


def _step_cell(a: FillingResult, b: FillingResult, n: int, cell, pbc):
    """Cell and pbc for comparing the sites of step ``n`` (see :func:`same_path`)."""
    if cell is not None:
        return np.asarray(cell, dtype=float), (True if pbc is None else pbc)
    for r in (a, b):
        if r.structures:
            atoms = r.structures[n] if len(r.structures) > n else r.structures[0]
            return atoms.cell.array, atoms.pbc if pbc is None else pbc
    return None, None


__all__ = [
    "Candidate",
    "DEFAULT_FILL_RELAX",
    "FillingResult",
    "FillingSettings",
    "FillingStep",
    "candidate_sets",
    "get_calculator",
    "host_counts",
    "same_path",
    "sequential_filling",
]
