"""Energy engines behind one factory, :func:`make_calculator`, one adapter each.

* ``"mlip"`` (the fast default): :mod:`alkali_layers.engines.mlip`, SevenNet
  ``7net-0`` + DFT-D3(BJ); weights ship inside the ``sevenn`` wheel.
* ``"gpaw"`` (the reference DFT engine, vdW-optPBE by default):
  :mod:`alkali_layers.engines.gpaw`.

Settings live in the light module :mod:`alkali_layers.engines.settings` (no torch,
no GPAW imported), re-exported here.  Runtime options that do not change the
numbers (device, threads) are not settings.
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator

from ..provenance import engine_versions
from .settings import (
    DFT_DISPERSIONS,
    DISPERSIONS,
    ENGINES,
    ML_MODELS,
    PBE_D3BJ,
    PRESETS,
    REFERENCE_KPT_DENSITY,
    XCS,
    DFTProtocol,
    GPAWSettings,
    MLIPSettings,
    engine_from_dict,
    engine_settings,
    engine_to_dict,
    gpaw_settings,
)

__all__ = [
    "DFT_DISPERSIONS",
    "DISPERSIONS",
    "ENGINES",
    "ML_MODELS",
    "PBE_D3BJ",
    "PRESETS",
    "REFERENCE_KPT_DENSITY",
    "XCS",
    "DFTProtocol",
    "GPAWSettings",
    "MLIPSettings",
    "engine_from_dict",
    "engine_settings",
    "engine_to_dict",
    "engine_versions",
    "gpaw_settings",
    "make_calculator",
]


def make_calculator(
    engine: str = "mlip",
    settings=None,
    device: str = "cpu",
    threads: int | None = None,
    atoms=None,
    txt: str | None = None,
    **overrides,
) -> Calculator:
    """Return an ASE calculator for ``engine`` with the given settings.

    Parameters
    ----------
    engine : {"mlip", "gpaw"}
        The engine.
    settings : MLIPSettings, GPAWSettings or preset name, optional
        Full settings (mlip default ``MLIPSettings()``; gpaw default the "final"
        preset); keyword ``overrides`` replace single fields
        (``make_calculator("mlip", dispersion="none")``).
    device : str
        mlip: torch device ("cpu"; "cuda" where available).
    threads : int, optional
        mlip: torch threads of this calculator's force calls (set while it
        computes and restored after; other calculators are not affected).
    atoms : ase.Atoms
        gpaw: the structure (its k-point grid depends on the cell).
    txt : str, optional
        gpaw: text log path.

    Returns
    -------
    Calculator
        Energy (eV), forces (eV/A) and stress (eV/A^3).  The calculator carries its
        settings as ``calc.alkali_settings``.  Every call returns a new,
        independent calculator (ML calculators share the loaded network's weights,
        never results).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if engine == "gpaw":
        from .gpaw import gpaw_calculator

        if atoms is None:
            raise ValueError("the gpaw engine needs atoms= (k points follow the cell)")
        settings = gpaw_settings(settings, **overrides)
        calc, _ = gpaw_calculator(settings, atoms, txt=txt)
        calc.alkali_settings = settings
        return calc
    settings = engine_settings(engine, settings, **overrides)
    from .mlip import mlip_calculator

    calc = mlip_calculator(settings, device, threads)
    calc.alkali_settings = settings
    return calc
