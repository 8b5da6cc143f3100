"""Harmonic phonons by finite displacements through phonopy
(docs/science/phonons.md).

phonopy does the physics: it builds the supercell, generates the symmetry-reduced
displacements, turns the forces into force constants, imposes the acoustic sum rule
(translational invariance, ``Phonopy.symmetrize_force_constants``) and computes band
structure, density of states and thermal properties.  This module only supplies the
forces (any ASE calculator, or the project's engines), checkpoints them one
displacement at a time, and condenses phonopy's output into a serialisable
:class:`PhononResult`.

Conventions and units
---------------------
* Frequencies in THz; an imaginary frequency is reported as a negative number
  (phonopy's convention).
* ``F_vib(T) = sum_{q,nu} [h nu / 2 + k_B T ln(1 - exp(-h nu / k_B T))]`` in **eV per
  input cell** (phonopy gives kJ/mol per primitive cell; converted with phonopy's own
  ``EvTokJmol`` and multiplied by the number of primitive cells in the input cell).
  The three acoustic modes at Gamma and modes with frequency <= 0 (imaginary) are
  left out of the sum, as phonopy does.  ``F_vib(0 K)`` is the zero-point energy.
  For a dynamically unstable cell the imaginary modes are simply missing from the
  sum: its F_vib is then a biased estimate (flagged by ``dynamically_stable``).
* q-points in reduced coordinates of the reciprocal lattice of phonopy's primitive
  cell (``result.primitive_cell_A``).
* **Dynamical stability**: the structure is called stable when no frequency on the
  mesh or the band path, apart from the three acoustic modes at Gamma, is below
  ``-imaginary_tolerance_THz`` (default 0.1 THz, the low end of the 0.1-0.3 THz noise
  of finite differences near Gamma quoted in docs/science/phonons.md).
* The verdict is refined by where the imaginary mode sits: at the q-points
  commensurate with the supercell the frequencies follow exactly from the computed
  forces; elsewhere they are Fourier-interpolated from force constants cut off at
  the supercell size, which the long-ranged ML + D3 interactions may violate.
  ``stability`` is "stable", "unstable" (imaginary at a commensurate q) or
  "unstable (interpolated q only)" (a larger supercell decides).
* The band path is ASE's standard path for the Bravais lattice of the primitive cell
  (``ase.cell.Cell.bandpath``; 2D path for slabs): seekpath, which phonopy's
  ``auto_band_structure`` needs, is not a dependency.

Supercell: by default ``ceil(min_length_A / h_i)`` repetitions along each periodic
direction (``h_i`` the perpendicular width of the cell along ``a_i``) and 1 along a
vacuum direction (a gap of at least ``VACUUM_GAP_A`` free of atoms).

Checkpoints (``folder``): ``phonopy_disp.yaml`` holds the displacement set (phonopy's
own file, reloaded on resume), ``forces/disp-NNNN.json`` the forces of each displaced
supercell, written atomically as it finishes; a killed run recomputes at most the one
displacement it was working on.  A folder started for another structure or other
settings is refused, never overwritten.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.dft.kpoints import parse_path_string

from ..engines.settings import energy_settings
from ..jsonio import read_json, write_json_atomic
from ..settings import stable_hash, structure_hashes

#: Minimum atom-free gap (A) along a cell vector for it to count as a vacuum axis.
VACUUM_GAP_A = 5.0
#: Default minimum supercell width (A) along each periodic direction.
DEFAULT_MIN_LENGTH_A = 10.0
#: Default finite displacement (A), phonopy's default.
DEFAULT_DISPLACEMENT_A = 0.01
#: Default tolerance (THz) below zero before a mode counts as imaginary.
DEFAULT_IMAGINARY_TOLERANCE_THZ = 0.1
#: Default temperature grid (K) of the thermal properties.
DEFAULT_TEMPERATURES_K: tuple[float, ...] = tuple(float(t) for t in range(0, 1001, 25))
#: Minimum q-mesh length (A): mesh n_i = ceil(MESH_LENGTH_A * |b_i|) (b without 2 pi).
MESH_LENGTH_A = 60.0
CHECKPOINT_FILE = "phonopy_disp.yaml"
FORCES_DIR = "forces"
IDENTITY_FILE = "phonons.json"


@dataclass(frozen=True)
class PhononSettings:
    """Settings of a finite-displacement phonon calculation.

    Attributes
    ----------
    supercell : tuple of int or None
        Repetitions along a, b, c; None: chosen from ``min_length_A``.
    min_length_A : float
        Minimum perpendicular width of the supercell along periodic directions (A).
    displacement_A : float
        Finite displacement amplitude (A).
    acoustic_sum_rule : bool
        Impose translational invariance on the force constants (phonopy's
        ``symmetrize_force_constants``).  Off only for models that are not
        translationally invariant (e.g. atoms on springs tied to fixed sites).
    imaginary_tolerance_THz : float
        How far below zero a frequency may go before it counts as imaginary.
    """

    supercell: tuple[int, int, int] | None = None
    min_length_A: float = DEFAULT_MIN_LENGTH_A
    displacement_A: float = DEFAULT_DISPLACEMENT_A
    acoustic_sum_rule: bool = True
    imaginary_tolerance_THz: float = DEFAULT_IMAGINARY_TOLERANCE_THZ

    def __post_init__(self) -> None:
        if self.supercell is not None:
            sc = tuple(int(n) for n in self.supercell)
            if len(sc) != 3 or min(sc) < 1:
                raise ValueError(
                    f"supercell must be three positive integers, got {self.supercell!r}"
                )
            object.__setattr__(self, "supercell", sc)
        if not self.min_length_A > 0:
            raise ValueError(f"min_length_A must be > 0, got {self.min_length_A!r}")
        if not 0.001 <= self.displacement_A <= 0.1:
            raise ValueError(
                "displacement_A must be within 0.001-0.1 A, got "
                f"{self.displacement_A!r}"
            )
        if self.imaginary_tolerance_THz < 0:
            raise ValueError(
                "imaginary_tolerance_THz must be >= 0, got "
                f"{self.imaginary_tolerance_THz!r}"
            )

    def settings_hash(self) -> str:
        """Hash of every field (all of them change the result)."""
        return stable_hash(asdict(self))


@dataclass
class PhononResult:
    """Condensed phonopy output; every field is JSON-serialisable.

    Frequencies in THz (negative = imaginary), energies in eV per input cell,
    entropies and heat capacities in eV/K per input cell, q in reduced coordinates
    of the primitive reciprocal lattice.  ``commensurate_frequencies_THz``: the
    frequencies at every q commensurate with the supercell (one list per q), exact
    from the computed forces: for a 1x1x1 supercell, the Γ-point modes of the input
    cell (empty in results computed before the field existed).
    """

    n_atoms: int
    n_primitive_cells: float
    primitive_cell_A: list
    supercell_matrix: list
    displacement_A: float
    n_displacements: int
    acoustic_sum_rule: bool
    gamma_frequencies_THz: list
    gamma_acoustic_max_abs_THz: float
    lowest_frequency_THz: float
    lowest_qpoint: list
    lowest_modes: list
    imaginary_tolerance_THz: float
    dynamically_stable: bool
    n_imaginary_qpoints: int
    mesh: list
    band: dict
    dos: dict
    temperatures_K: list
    free_energy_eV: list
    entropy_eV_K: list
    heat_capacity_eV_K: list
    zero_point_energy_eV: float
    max_frequency_THz: float = 0.0
    notes: list = field(default_factory=list)
    stability: str = ""
    lowest_commensurate_THz: float = 0.0
    lowest_commensurate_q: list = field(default_factory=list)
    commensurate_frequencies_THz: list = field(default_factory=list)

    def free_energy_at(self, temperature_K: float) -> float:
        """F_vib (eV per input cell) at ``temperature_K``, linear interpolation."""
        t = np.asarray(self.temperatures_K)
        if not t[0] <= temperature_K <= t[-1]:
            raise ValueError(
                f"temperature {temperature_K} K outside the computed range "
                f"{t[0]}-{t[-1]} K"
            )
        return float(np.interp(temperature_K, t, self.free_energy_eV))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PhononResult:
        return cls(**data)


def vacuum_axes(atoms: Atoms, min_gap_A: float = VACUUM_GAP_A) -> list[bool]:
    """Which cell vectors are vacuum directions.

    A direction is vacuum when it is not periodic, or when the atoms leave a gap of
    at least ``min_gap_A`` (measured perpendicular to the other two vectors) along it.
    """
    cell = np.asarray(atoms.cell)
    heights = _perpendicular_widths(cell)
    scaled = atoms.get_scaled_positions(wrap=True)
    out = []
    for i in range(3):
        if not atoms.pbc[i]:
            out.append(True)
            continue
        s = np.sort(scaled[:, i])
        gaps = np.diff(np.concatenate([s, [s[0] + 1.0]]))
        out.append(bool(gaps.max() * heights[i] >= min_gap_A))
    return out


def _perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    volume = abs(np.linalg.det(cell))
    if volume < 1e-6:
        raise ValueError("the cell has no volume; phonons need a 3D periodic cell")
    return np.array(
        [
            volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
            for i in range(3)
        ]
    )


def default_supercell(
    atoms: Atoms, min_length_A: float = DEFAULT_MIN_LENGTH_A
) -> tuple[int, int, int]:
    """``ceil(min_length_A / h_i)`` along periodic directions, 1 along vacuum ones."""
    heights = _perpendicular_widths(np.asarray(atoms.cell))
    vac = vacuum_axes(atoms)
    return tuple(
        1 if vac[i] else max(1, math.ceil(min_length_A / heights[i] - 1e-9))
        for i in range(3)
    )


def to_phonopy_atoms(atoms: Atoms):
    """``ase.Atoms`` -> ``PhonopyAtoms`` (symbols, cell, scaled positions, masses)."""
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.asarray(atoms.cell),
        scaled_positions=atoms.get_scaled_positions(wrap=False),
        masses=atoms.get_masses(),
    )


def from_phonopy_atoms(cell) -> Atoms:
    """``PhonopyAtoms`` -> ``ase.Atoms`` (periodic in 3D, masses kept)."""
    return Atoms(
        symbols=cell.symbols,
        cell=cell.cell,
        scaled_positions=cell.scaled_positions,
        masses=cell.masses,
        pbc=True,
    )


def _force_function(calc_or_engine, folder: Path | None) -> Callable:
    """``forces(atoms, index) -> ndarray`` for an ASE calculator or an engine."""
    if isinstance(calc_or_engine, Calculator) or hasattr(calc_or_engine, "get_forces"):
        calc = calc_or_engine

        def ml_forces(atoms: Atoms, index: int) -> np.ndarray:
            work = atoms.copy()
            work.calc = calc
            return np.array(work.get_forces())

        return ml_forces
    engine = getattr(calc_or_engine, "engine", None)
    if engine == "mlip":
        from ..engines import make_calculator

        return _force_function(make_calculator("mlip", calc_or_engine), folder)
    if engine == "gpaw" or hasattr(calc_or_engine, "final"):
        from .staged import dft_single_point

        settings = energy_settings(calc_or_engine)

        def dft_forces(atoms: Atoms, index: int) -> np.ndarray:
            txt = str(folder / f"gpaw-disp-{index:04d}.txt") if folder else None
            return np.array(dft_single_point(atoms, settings, txt=txt)[1])

        return dft_forces
    raise TypeError(
        "calc_or_engine must be an ASE calculator, MLIPSettings, GPAWSettings or a "
        f"DFTProtocol, got {type(calc_or_engine).__name__}"
    )


def phonons(
    atoms: Atoms,
    calc_or_engine,
    supercell: tuple[int, int, int] | None = None,
    displacement: float = DEFAULT_DISPLACEMENT_A,
    folder: str | Path | None = None,
    settings: PhononSettings | None = None,
    temperatures_K: tuple[float, ...] = DEFAULT_TEMPERATURES_K,
    band_npoints: int = 51,
    progress: Callable[[int, int], None] | None = None,
) -> PhononResult:
    """Harmonic phonons of ``atoms`` (assumed relaxed) by finite displacements.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure, relaxed: residual forces at the reference geometry enter
        the force constants as an error and are not checked here (the ``phonons``
        task kind relaxes first and records the final fmax).
    calc_or_engine : Calculator, MLIPSettings, GPAWSettings or DFTProtocol
        Where the forces come from (GPAW: the ``final`` settings of a protocol).
    supercell : tuple of int, optional
        Repetitions along a, b, c; default from ``settings.min_length_A`` (10 A,
        1 along a vacuum axis).  Overrides ``settings.supercell``.
    displacement : float
        Displacement amplitude (A); used when ``settings`` is not given.
    folder : path, optional
        Checkpoint folder (see the module docstring); None keeps nothing.
    settings : PhononSettings, optional
        All settings at once (``supercell``/``displacement`` are then ignored unless
        ``supercell`` is given).
    temperatures_K : tuple of float
        Temperature grid of the thermal properties; must start at 0 K.
    band_npoints : int
        q-points per band-path segment.
    progress : callable, optional
        ``progress(done, total)`` after each displacement.

    Returns
    -------
    PhononResult
    """
    from phonopy import Phonopy
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points
    from phonopy.phonon.thermal_properties import GammaAcousticWarning
    from phonopy.structure.cells import guess_primitive_matrix

    if settings is None:
        settings = PhononSettings(supercell=supercell, displacement_A=displacement)
    elif supercell is not None:
        settings = PhononSettings(**{**asdict(settings), "supercell": tuple(supercell)})
    if len(atoms) == 0:
        raise ValueError("phonons of an empty structure")
    if temperatures_K[0] != 0:
        raise ValueError("temperatures_K must start at 0 K (zero-point energy)")
    sc = settings.supercell or default_supercell(atoms, settings.min_length_A)
    folder = Path(folder) if folder is not None else None
    forces_of = _force_function(calc_or_engine, folder)
    notes: list[str] = []

    unitcell = to_phonopy_atoms(atoms)
    # the primitive cell found by symmetry (phonopy's "auto"), passed explicitly
    phonon = Phonopy(
        unitcell,
        supercell_matrix=np.diag(sc),
        primitive_matrix=guess_primitive_matrix(unitcell),
    )
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        _check_identity(folder, atoms, settings, sc)
    checkpoint = folder / CHECKPOINT_FILE if folder is not None else None
    if checkpoint is not None and checkpoint.exists():
        import phonopy

        saved = phonopy.load(checkpoint, produce_fc=False, log_level=0)
        phonon.dataset = saved.dataset
    else:
        phonon.generate_displacements(distance=settings.displacement_A)
        if checkpoint is not None:
            # written under a private name, then renamed: under MPI every rank
            # runs this, and a rank that finds the file must find it whole
            tmp = checkpoint.with_name(f".{checkpoint.name}.tmp-{os.getpid()}")
            phonon.save(tmp, settings={"force_sets": False})
            os.replace(tmp, checkpoint)

    supercells = phonon.supercells_with_displacements
    n = len(supercells)
    forces = []
    for i, cell in enumerate(supercells):
        path = folder / FORCES_DIR / f"disp-{i:04d}.json" if folder else None
        stored = read_json(path) if path is not None else None
        if stored is not None:
            f = np.array(stored["forces_eV_A"])
        else:
            f = forces_of(from_phonopy_atoms(cell), i)
            if not np.all(np.isfinite(f)):
                raise ValueError(f"non-finite forces for displacement {i}")
            if path is not None:
                path.parent.mkdir(exist_ok=True)
                write_json_atomic(path, {"index": i, "forces_eV_A": f.tolist()})
        forces.append(f)
        if progress is not None:
            progress(i + 1, n)
    phonon.forces = np.array(forces)
    phonon.produce_force_constants(show_drift=False)
    if settings.acoustic_sum_rule:
        phonon.symmetrize_force_constants(show_drift=False)

    ratio = len(atoms) / len(phonon.primitive)
    # Gamma
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.sort(phonon.qpoints.frequencies[0])
    acoustic = np.sort(np.abs(gamma))[:3]
    # q mesh: Gamma-centred, 1 along vacuum axes
    vac = vacuum_axes(atoms)
    rec = np.linalg.inv(phonon.primitive.cell).T
    mesh = [
        1 if vac[i] else max(1, math.ceil(MESH_LENGTH_A * np.linalg.norm(rec[i])))
        for i in range(3)
    ]
    phonon.run_mesh(mesh, is_gamma_center=True)
    mesh_q = np.asarray(phonon.mesh.qpoints)
    mesh_f = np.asarray(phonon.mesh.frequencies)
    # the q-points commensurate with the supercell: their frequencies follow
    # exactly from the supercell forces (no interpolation of force constants)
    smat = np.rint(np.linalg.inv(phonon.primitive.primitive_matrix)).astype(int)
    comm_q = np.asarray(get_commensurate_points(smat))
    phonon.run_qpoints(comm_q)
    comm_f = np.asarray(phonon.qpoints.frequencies)
    # band path
    band = _band_structure(phonon, vac, band_npoints)
    # the lowest frequencies, the three Gamma acoustic modes left out
    q_all, f_all = [comm_q, mesh_q], [comm_f, mesh_f]
    for q, f in zip(band["qpoints"], band["frequencies_THz"], strict=True):
        q_all.append(np.asarray(q))
        f_all.append(np.asarray(f))
    qs = np.concatenate(q_all)
    fs = np.concatenate(f_all).copy()
    at_gamma = np.all(np.abs(qs - np.round(qs)) < 1e-8, axis=1)
    for row in np.flatnonzero(at_gamma):
        order = np.argsort(np.abs(fs[row]))[:3]
        fs[row, order] = np.inf
    lowest_per_q = fs.min(axis=1)
    idx = int(np.argmin(lowest_per_q))
    tol = settings.imaginary_tolerance_THz
    n_comm = len(comm_q)
    n_imag = int(np.sum(lowest_per_q[n_comm : n_comm + len(mesh_q)] < -tol))
    lowest_modes = _lowest_modes(qs, lowest_per_q, count=5)
    stable = bool(lowest_per_q[idx] >= -tol)
    icomm = int(np.argmin(lowest_per_q[:n_comm]))
    comm_lowest = float(lowest_per_q[icomm])
    if stable:
        stability = "stable"
    elif comm_lowest < -tol:
        stability = "unstable"
    else:
        stability = "unstable (interpolated q only)"
    if float(acoustic.max()) > 0.5:
        notes.append(
            f"Gamma acoustic modes up to {acoustic.max():.2f} THz: forces not "
            "translationally invariant (unrelaxed structure or noisy forces)"
        )
    # DOS and thermal properties
    phonon.run_total_dos()
    dos = phonon.total_dos
    # without the sum rule there are no acoustic modes to leave out (Einstein model)
    with warnings.catch_warnings():
        if not settings.acoustic_sum_rule:
            warnings.simplefilter("ignore", GammaAcousticWarning)
        phonon.run_thermal_properties(
            temperatures=list(temperatures_K),
            exclude_gamma_acoustic=settings.acoustic_sum_rule,
        )
    tp = phonon.thermal_properties
    to_ev = 1.0 / _ev_to_kj_mol()
    return PhononResult(
        n_atoms=len(atoms),
        n_primitive_cells=float(ratio),
        primitive_cell_A=np.asarray(phonon.primitive.cell).tolist(),
        supercell_matrix=np.diag(sc).tolist(),
        displacement_A=settings.displacement_A,
        n_displacements=n,
        acoustic_sum_rule=settings.acoustic_sum_rule,
        gamma_frequencies_THz=[round(float(x), 5) for x in gamma],
        gamma_acoustic_max_abs_THz=float(acoustic.max()),
        lowest_frequency_THz=float(lowest_per_q[idx]),
        lowest_qpoint=[round(float(x), 6) for x in qs[idx]],
        lowest_modes=lowest_modes,
        imaginary_tolerance_THz=tol,
        dynamically_stable=stable,
        n_imaginary_qpoints=n_imag,
        stability=stability,
        lowest_commensurate_THz=comm_lowest,
        lowest_commensurate_q=[round(float(x), 6) for x in comm_q[icomm]],
        commensurate_frequencies_THz=np.asarray(comm_f).round(5).tolist(),
        mesh=[int(m) for m in mesh],
        band=band,
        dos={
            "frequency_THz": np.asarray(dos.frequency_points).round(5).tolist(),
            "dos_per_THz": (np.asarray(dos.dos) * ratio).round(6).tolist(),
        },
        temperatures_K=[float(t) for t in tp.temperatures],
        free_energy_eV=(np.asarray(tp.free_energy) * to_ev * ratio).tolist(),
        entropy_eV_K=(np.asarray(tp.entropy) * to_ev / 1000 * ratio).tolist(),
        heat_capacity_eV_K=(
            np.asarray(tp.heat_capacity) * to_ev / 1000 * ratio
        ).tolist(),
        zero_point_energy_eV=float(tp.zero_point_energy * to_ev * ratio),
        max_frequency_THz=float(np.max(mesh_f)),
        notes=notes,
    )


def load_phonopy(folder: str | Path):
    """The ``Phonopy`` object of a finished checkpoint folder of :func:`phonons`.

    Reads ``phonopy_disp.yaml`` and every ``forces/disp-NNNN.json``, builds the
    force constants and imposes the acoustic sum rule, as :func:`phonons` does by
    default.  No force is computed: a folder with a missing displacement is refused.
    """
    import phonopy

    folder = Path(folder)
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: not a phonons() folder")
    phonon = phonopy.load(path, produce_fc=False, log_level=0)
    n = len(phonon.supercells_with_displacements)
    forces = []
    for i in range(n):
        stored = read_json(folder / FORCES_DIR / f"disp-{i:04d}.json")
        if stored is None:
            raise ValueError(
                f"{folder}: forces of displacement {i} of {n} missing (unfinished run)"
            )
        forces.append(stored["forces_eV_A"])
    phonon.forces = np.array(forces)
    phonon.produce_force_constants(show_drift=False)
    phonon.symmetrize_force_constants(show_drift=False)
    return phonon


def phonopy_inputs(folder: str | Path) -> dict:
    """What rebuilds the force constants of a finished :func:`phonons` folder.

    ``{"phonopy_disp_yaml": <the checkpoint file's text>, "forces_eV_A": [one
    (n_atoms, 3) list per displacement]}``: small enough for a database row (the
    task folders of a campaign are scratch, the database is what is committed).
    Refuses an unfinished folder (see :func:`load_phonopy`).
    """
    folder = Path(folder)
    phonon = load_phonopy(folder)
    return {
        "phonopy_disp_yaml": (folder / CHECKPOINT_FILE).read_text(),
        "forces_eV_A": np.asarray(phonon.forces).tolist(),
    }


def write_phonopy_inputs(inputs: dict, folder: str | Path) -> Path:
    """Recreate a finished :func:`phonons` folder from :func:`phonopy_inputs`, so
    that :func:`load_phonopy` reads it; returns the folder."""
    folder = Path(folder)
    (folder / FORCES_DIR).mkdir(parents=True, exist_ok=True)
    for i, forces in enumerate(inputs["forces_eV_A"]):
        write_json_atomic(
            folder / FORCES_DIR / f"disp-{i:04d}.json",
            {"index": i, "forces_eV_A": forces},
        )
    tmp = folder / f".{CHECKPOINT_FILE}.tmp-{os.getpid()}"
    tmp.write_text(inputs["phonopy_disp_yaml"])
    os.replace(tmp, folder / CHECKPOINT_FILE)  # last: marks the folder complete
    return folder


def modes_at(phonon, qpoint) -> tuple[np.ndarray, np.ndarray, bool]:
    """(frequencies THz ascending, eigenvectors as columns, commensurate) at ``qpoint``.

    ``qpoint`` in reduced coordinates of the primitive reciprocal lattice;
    ``commensurate``: whether the supercell's forces give these frequencies exactly
    (otherwise they are Fourier-interpolated from the force constants).
    """
    q = np.asarray(qpoint, dtype=float)
    phonon.run_qpoints([q], with_eigenvectors=True)
    freqs = np.asarray(phonon.qpoints.frequencies[0])
    vecs = np.asarray(phonon.qpoints.eigenvectors[0])
    smat = np.rint(np.linalg.inv(phonon.primitive.primitive_matrix))
    folded = smat.T @ q
    return freqs, vecs, bool(np.allclose(folded, np.round(folded), atol=1e-6))


def special_qpoints(phonon, pbc=(True, True, True)) -> dict[str, list[float]]:
    """ASE's special points of the primitive cell's lattice (labels as in the band
    path, "Γ" for Gamma), reduced coordinates of the primitive reciprocal lattice."""
    from ase.cell import Cell

    path = Cell(phonon.primitive.cell).bandpath(npoints=0, pbc=list(pbc))
    return {
        ("Γ" if k == "G" else k): np.asarray(v, dtype=float).tolist()
        for k, v in path.special_points.items()
    }


def _ev_to_kj_mol() -> float:
    from phonopy.physical_units import get_physical_units

    return float(get_physical_units().EvTokJmol)


def _check_identity(folder: Path, atoms: Atoms, settings: PhononSettings, sc) -> None:
    """Refuse a checkpoint folder started for another structure or settings."""
    today, signed_zero = structure_hashes(atoms)
    identity = {
        "structure": today,
        "settings": settings.settings_hash(),
        "supercell": list(sc),
    }
    # checkpoints started before 2026-12-02 carry the signed-zero structure hash
    legacy = {**identity, "structure": signed_zero}
    path = folder / IDENTITY_FILE
    stored = read_json(path)
    if stored is None:
        write_json_atomic(path, identity)
    elif stored not in (identity, legacy):
        raise ValueError(
            f"{folder} holds phonon checkpoints of another structure or other "
            f"settings ({stored} != {identity}); use a new folder"
        )


def _band_structure(phonon, vac: list[bool], npoints: int) -> dict:
    """Frequencies along ASE's standard path of the primitive cell's lattice."""
    from ase.cell import Cell
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    pbc = [not v for v in vac]
    path = Cell(phonon.primitive.cell).bandpath(npoints=0, pbc=pbc)
    special = path.special_points
    sections = parse_path_string(path.path)
    band_paths = [[special[label] for label in section] for section in sections]
    qpoints, connections = get_band_qpoints_and_path_connections(
        band_paths, npoints=npoints
    )
    labels = []
    for section in sections:
        labels.extend("Γ" if s == "G" else s for s in section)
    phonon.run_band_structure(qpoints, path_connections=connections, labels=labels)
    bs = phonon.band_structure
    return {
        "path": path.path,
        "labels": labels,
        "path_connections": list(connections),
        "qpoints": [np.asarray(q).round(6).tolist() for q in bs.qpoints],
        "distances": [np.asarray(d).round(6).tolist() for d in bs.distances],
        "frequencies_THz": [np.asarray(f).round(5).tolist() for f in bs.frequencies],
    }


def _lowest_modes(qs: np.ndarray, lowest: np.ndarray, count: int) -> list[dict]:
    """The ``count`` lowest frequencies at distinct q-points (THz, reduced q)."""
    out: list[dict] = []
    seen: list[np.ndarray] = []
    for i in np.argsort(lowest):
        if not np.isfinite(lowest[i]):
            break
        q = qs[i]
        if any(np.allclose(q, s, atol=1e-6) for s in seen):
            continue
        seen.append(q)
        out.append(
            {
                "q": [round(float(x), 6) for x in q],
                "frequency_THz": round(float(lowest[i]), 5),
            }
        )
        if len(out) == count:
            break
    return out
