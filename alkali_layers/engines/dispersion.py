"""Dispersion corrections as ASE calculators (shared by the ML and GPAW engines)."""

from __future__ import annotations

#: dispersion corrections an engine may add; "none" switches it off
DISPERSION_KINDS: tuple[str, ...] = ("d3bj", "d3zero", "d4")


def dispersion_calculator(dispersion: str, functional: str = "PBE"):
    """The ASE calculator of a dispersion correction alone ("d3bj", "d3zero", "d4").

    D3 from the ``dftd3`` package (Grimme et al., J. Chem. Phys. 132, 154104
    (2010); BJ damping: J. Comput. Chem. 32, 1456 (2011)), D4 from the ``dftd4``
    package (Caldeweyher et al., J. Chem. Phys. 150, 154122 (2019)), each with its
    parameters for ``functional`` and its three-body term at the package default.
    """
    if dispersion in ("d3bj", "d3zero"):
        from dftd3.ase import DFTD3

        return DFTD3(method=functional, damping=dispersion)
    if dispersion == "d4":
        from dftd4.ase import DFTD4

        return DFTD4(method=functional)
    raise ValueError(
        f"no dispersion calculator for {dispersion!r}; "
        f"allowed: {', '.join(DISPERSION_KINDS)}"
    )
