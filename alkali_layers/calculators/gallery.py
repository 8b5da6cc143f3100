"""The gallery height of a bilayer model as a coordinate of its relaxation.

Two tools for the softest coordinate of a bilayer model, the carbon-plane to carbon-
plane distance:

* :func:`prescan_gallery`, a rigid scan of the metal-carbon distance that picks the
  starting height of a relaxation (a few single points);
* :class:`GalleryCoordinate`, an ASE filter that adds the gallery height to the
  coordinates an optimizer moves, with the net force on it
  (:func:`~alkali_layers.geometry.gallery_force_eV_A`) as its generalized force, so
  that the optimizer's force criterion covers it too.

Why the second one exists (``runs/bilayer_graphene_dft/README.md``, "Where the
relaxation starts"): a per-atom force criterion does not pin the gallery height.  The
van der Waals force on one sheet is shared by all its atoms, so each of them can be
below ``fmax`` while the sheet as a whole is pushed by several times ``fmax``.
Measured with GPAW (vdW-optPBE) on Rb x 1 layer in AB bilayer graphene: a relaxation
converged to 0.05 eV/A per atom stopped in a 7.29 A gallery under a net sheet force of
0.19 eV/A; started elsewhere the same treatment ends at 5.66 A, 131 meV/Rb lower.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.filters import OptimizableFilter

from ..geometry import (
    DEFAULT_MIN_RATIO,
    TAG_BOTTOM_SHEET,
    TAG_TOP_SHEET,
    closest_pair,
    has_gallery,
    metal_mask,
)


def _shift_gallery(atoms: Atoms, delta_A: float) -> Atoms:
    """Copy with metal planes raised by ``delta`` and the top sheet by ``2 delta``."""
    out = atoms.copy()
    tags = out.get_tags()
    out.positions[metal_mask(out), 2] += delta_A
    out.positions[tags == TAG_TOP_SHEET, 2] += 2.0 * delta_A
    return out


def prescan_gallery(
    atoms: Atoms, calc, step_A: float = 0.3, limits_A: tuple[float, float] = (-0.6, 1.5)
) -> tuple[Atoms, float, int]:
    """Rigid scan of the metal-carbon distance of a bilayer model.

    Both metal-carbon gaps change by ``delta`` (metal planes move up by delta, the top
    sheet by 2 delta; metal-metal spacings stay at their bulk values).  Energies are
    evaluated on a grid of ``step_A`` (extended while the minimum sits at an edge,
    within ``limits_A``) and a parabola through the lowest three points gives the
    starting offset.  Geometries with overlapping atoms are skipped.

    Returns
    -------
    (atoms, delta_A, n_evaluations)
        The shifted copy, the chosen offset (A) and the number of energy evaluations.
    """
    tags = atoms.get_tags()
    if not (np.any(tags == TAG_TOP_SHEET) and np.any(metal_mask(atoms))):
        return atoms.copy(), 0.0, 0
    energies: dict[float, float] = {}

    def energy(delta: float) -> float:
        delta = round(delta, 6)
        if delta not in energies:
            trial = _shift_gallery(atoms, delta)
            pair = closest_pair(trial)
            if pair is not None and pair.ratio < DEFAULT_MIN_RATIO:
                energies[delta] = np.inf
            else:
                trial.calc = calc
                e = float(trial.get_potential_energy())
                energies[delta] = e if np.isfinite(e) else np.inf
        return energies[delta]

    grid = [-step_A, 0.0, step_A, 2 * step_A]
    for d in grid:
        energy(d)
    while True:
        ds = sorted(energies)
        best = min(ds, key=lambda d: energies[d])
        if best == ds[-1] and best + step_A <= limits_A[1] + 1e-9:
            energy(best + step_A)
        elif best == ds[0] and best - step_A >= limits_A[0] - 1e-9:
            energy(best - step_A)
        else:
            break
    ds = sorted(energies)
    best = min(ds, key=lambda d: energies[d])
    i = ds.index(best)
    chosen = best
    if (
        0 < i < len(ds) - 1
        and np.isfinite([energies[d] for d in ds[i - 1 : i + 2]]).all()
    ):
        x = np.array(ds[i - 1 : i + 2])
        c = np.polyfit(x, [energies[d] for d in x], 2)
        if c[0] > 0:
            chosen = float(np.clip(-c[1] / (2 * c[0]), x[0], x[2]))
    if not np.isfinite(energies[best]):
        return atoms.copy(), 0.0, len(energies)
    return _shift_gallery(atoms, chosen), chosen, len(energies)


class GalleryCoordinate:
    """ASE filter: the gallery height as one more coordinate of an optimizer.

    Wraps ``target`` (the atoms themselves, or a cell filter over them whose first
    ``len(atoms)`` rows are the atoms with unchanged z, as ``FrechetCellFilter`` with
    in-plane strains only) and appends one row ``(0, 0, h)``: moving ``h`` moves the
    top sheet up by ``h/2`` and the bottom sheet down by ``h/2`` (metal atoms stay,
    as in :func:`~alkali_layers.geometry.gallery_force_eV_A`).  The force on that row
    is the net force on the gallery height, ``sum_top F_z / 2 - sum_bottom F_z / 2``
    (eV/A per cell), so an optimizer run to ``fmax`` stops only when the gallery force
    is below ``fmax`` as well: the gallery height is treated like a cell degree of
    freedom, whose generalized force is the whole cell's, not a per-atom share.

    The coordinates are redundant (each sheet atom also moves on its own); the
    gradient is always orthogonal to the redundant direction, so quasi-Newton and
    FIRE steps never move along it.  Works with the optimizers that go through ASE's
    ``Optimizable`` interface (BFGS, LBFGS, FIRE, FIRE2), not the preconditioned ones,
    which need the ``Atoms`` themselves.

    Raises ``ValueError`` for atoms without both sheet tags.
    """

    def __init__(self, target, atoms: Atoms) -> None:
        if not has_gallery(atoms):
            raise ValueError(
                f"{atoms.get_chemical_formula()} has no bottom and top carbon sheet "
                "(tags 1 and 2): no gallery height to relax"
            )
        self.target = target
        self.atoms = atoms
        tags = atoms.get_tags()
        self.weights = np.zeros(len(atoms))
        self.weights[tags == TAG_TOP_SHEET] = 0.5
        self.weights[tags == TAG_BOTTOM_SHEET] = -0.5
        self.height_offset_A = 0.0

    def __len__(self) -> int:
        return len(self.target) + 1

    def get_positions(self) -> np.ndarray:
        rows = np.array(self.target.get_positions(), dtype=float)
        rows[: len(self.atoms), 2] -= self.height_offset_A * self.weights
        return np.vstack([rows, [0.0, 0.0, self.height_offset_A]])

    def set_positions(self, new, **kwargs) -> None:
        new = np.asarray(new, dtype=float)
        offset = float(new[-1, 2])
        rows = new[:-1].copy()
        rows[: len(self.atoms), 2] += offset * self.weights
        self.target.set_positions(rows, **kwargs)
        self.height_offset_A = offset

    def get_forces(self, **kwargs) -> np.ndarray:
        forces = np.array(self.target.get_forces(**kwargs), dtype=float)
        gallery = float(self.weights @ forces[: len(self.atoms), 2])
        return np.vstack([forces, [0.0, 0.0, gallery]])

    def get_potential_energy(self, **kwargs) -> float:
        return self.target.get_potential_energy(**kwargs)

    def iterimages(self):
        # trajectories store the real atoms
        return self.atoms.iterimages()

    def __ase_optimizable__(self) -> OptimizableFilter:
        return OptimizableFilter(self)
