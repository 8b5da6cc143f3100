"""Dispersion corrections as ASE calculators (shared by the ML and GPAW engines).

D3 has two implementations here, selected by ``backend``:

* ``"dftd3"`` (default): the ``dftd3`` package (simple-DFT-D3, Fortran, CPU).
* ``"torch"``: ``torch-dftd`` (PyTorch, runs on the torch device of the network,
  e.g. a GPU), set up to compute what the ``dftd3`` package computes: the same
  real-space cutoffs (pairs 60 bohr, coordination numbers 40 bohr, the ``dftd3``
  package's defaults), double precision, and no three-body term.

Energy convention (both): the two-body D3 energy only.  The ``dftd3`` package's
ASE calculator loads its parameters with ``atm=False`` when given a method name,
so its Axilrod-Teller-Muto three-body term is *not* included whatever ``s9`` says
(measured: E(s9=0) = E(s9=1) to all digits; with ``atm=True`` bcc K would move
by +2.4 meV/atom, -0.1166 -> -0.1142 eV/atom).  ``torch-dftd``'s own three-body
term (``abc=True``) uses zero-damping radii, a different convention: it stays off.
"""

from __future__ import annotations

#: dispersion corrections an engine may add; "none" switches it off
DISPERSION_KINDS: tuple[str, ...] = ("d3bj", "d3zero", "d4")
#: real-space cutoffs of the ``dftd3`` package (its documented defaults), bohr:
#: pairwise dispersion and coordination numbers
D3_PAIR_CUTOFF_BOHR = 60.0
D3_CN_CUTOFF_BOHR = 40.0


def dispersion_calculator(
    dispersion: str,
    functional: str = "PBE",
    backend: str = "dftd3",
    device: str = "cpu",
):
    """The ASE calculator of a dispersion correction alone ("d3bj", "d3zero", "d4").

    D3 (Grimme et al., J. Chem. Phys. 132, 154104 (2010); BJ damping: J. Comput.
    Chem. 32, 1456 (2011)) from the ``dftd3`` package or, with ``backend="torch"``,
    from ``torch-dftd`` on ``device`` (same two-body energy, see the module
    docstring); D4 from the ``dftd4`` package (Caldeweyher et al., J. Chem. Phys.
    150, 154122 (2019)).  Parameters for ``functional``; energies in eV, forces
    in eV/A, stress in eV/A^3.
    """
    if dispersion not in DISPERSION_KINDS:
        raise ValueError(
            f"no dispersion calculator for {dispersion!r}; "
            f"allowed: {', '.join(DISPERSION_KINDS)}"
        )
    if backend == "torch":
        if dispersion == "d4":
            raise ValueError("backend 'torch' computes D3 only (d3bj, d3zero)")
        return torch_d3_calculator(dispersion, functional, device)
    if backend != "dftd3":
        raise ValueError(
            f"unknown dispersion backend {backend!r}; allowed: dftd3, torch"
        )
    if dispersion in ("d3bj", "d3zero"):
        from dftd3.ase import DFTD3

        return DFTD3(method=functional, damping=dispersion)
    from dftd4.ase import DFTD4

    return DFTD4(method=functional)


def torch_d3_calculator(dispersion: str, functional: str, device: str):
    """``torch-dftd``'s two-body D3 with the ``dftd3`` package's cutoffs, float64."""
    try:
        import torch
        from torch_dftd.torch_dftd3_calculator import TorchDFTD3Calculator
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "dispersion_backend 'torch' needs the 'torch-dftd' package "
            "(pip install torch-dftd)"
        ) from err
    from ase.calculators.calculator import all_changes
    from ase.units import Bohr

    class TorchD3(TorchDFTD3Calculator):
        """Energy, forces and (periodic cells) stress from one call: one autograd
        pass gives all three, and an optimizer asks for the energy first."""

        def calculate(self, atoms=None, properties=None, system_changes=all_changes):
            super().calculate(atoms, ["energy", "forces"], system_changes)

    return TorchD3(
        damping={"d3bj": "bj", "d3zero": "zero"}[dispersion],
        xc=functional.lower(),
        device=device,
        cutoff=D3_PAIR_CUTOFF_BOHR * Bohr,
        cnthr=D3_CN_CUTOFF_BOHR * Bohr,
        abc=False,
        dtype=torch.float64,
    )
