"""Metal planes (close-packed or bcc(110)) and their stacking; bulk bcc metals.

A metal plane is described by its 2D lattice (rows = primitive vectors, A) and the
fractional in-plane shift of each successive plane:

* ``fcc``: close-packed triangular planes (nn = close-packed nn at bulk volume),
  stacked ABC (shifts 0, 1/3, 2/3 along a1 + a2) at the fcc(111) spacing.
* ``hcp``: the same planes stacked AB (ideal c/a), same spacing.
* ``bcc``: bcc(110) planes, a centred-rectangular lattice with primitive vectors
  ``a [001]`` and ``a/2 [1-11]``; successive planes are shifted by ``a/2 [001]``
  and spaced ``a / sqrt(2)``.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

from ..elements import check_packing, metal_data


def metal_plane_lattice(metal: str, packing: str = "fcc") -> np.ndarray:
    """Primitive 2D lattice (rows, A) of one metal plane at bulk volume."""
    data = metal_data(metal)
    check_packing(packing)
    if packing == "bcc":
        a = data.bcc_a_A
        return np.array([[a, 0.0], [a / 2.0, a / np.sqrt(2.0)]])
    d = data.close_packed_nn_A
    return d * np.array([[1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])


def stacking_shifts(packing: str, n_layers: int) -> np.ndarray:
    """Fractional in-plane shift (plane lattice basis) of each of ``n_layers``."""
    check_packing(packing)
    period = {"fcc": 3, "hcp": 2, "bcc": 2}[packing]
    step = {"fcc": (1 / 3, 1 / 3), "hcp": (1 / 3, 1 / 3), "bcc": (0.5, 0.0)}[packing]
    return np.array(
        [np.mod(np.array(step) * (k % period), 1.0) for k in range(n_layers)]
    )


def bulk_metal(metal: str, cubic: bool = False, a_A: float | None = None) -> Atoms:
    """The bcc metal reference: primitive (1 atom) or cubic (2 atoms) cell.

    Parameters
    ----------
    metal : str
        Li, Na, K, Rb or Cs.
    cubic : bool
        Conventional 2-atom cubic cell instead of the 1-atom primitive cell.
    a_A : float, optional
        Lattice constant; default the experimental value of the element table.
    """
    data = metal_data(metal)
    a = data.bcc_a_A if a_A is None else float(a_A)
    atoms = bulk(metal, "bcc", a=a, cubic=cubic)
    atoms.info.update(host="bulk", metal=metal, packing="bcc", n_layers=0, bcc_a_A=a)
    return atoms
