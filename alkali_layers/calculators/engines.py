"""Energy engines behind one factory: ``make_calculator(engine, ...)``.

``"gpaw"`` is the reference DFT engine (see :mod:`alkali_layers.calculators.dft`):
``make_calculator("gpaw", "final", atoms=atoms, txt="gpaw.txt")``.

``"mlip"`` (the fast default) is the universal machine-learned potential SevenNet
``7net-0`` (weights ship inside the ``sevenn`` wheel, nothing is downloaded) plus
Grimme's DFT-D3 dispersion with Becke-Johnson damping for PBE from the ``dftd3``
package.  7net-0 was trained on PBE (MPtrj) data, and plain PBE hardly binds graphite
layers, so dispersion is on by default and must be used consistently for hosts,
intercalated models and metal references.

Settings are frozen dataclasses; :meth:`MLIPSettings.settings_hash` is part of every
stored result's identity so that results of different settings never mix.  Runtime
options that do not change the numbers (device, threads) are not settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from ase.calculators.calculator import Calculator

from ..provenance import engine_versions  # noqa: F401 - re-exported
from ..settings import stable_hash

ENGINES: tuple[str, ...] = ("mlip", "gpaw")
DISPERSIONS: tuple[str, ...] = ("d3bj", "d3zero", "none")
ML_MODELS: tuple[str, ...] = ("7net-0",)


@dataclass(frozen=True)
class MLIPSettings:
    """Settings of the machine-learned engine.

    Attributes
    ----------
    model : str
        SevenNet model name whose weights ship in the wheel ("7net-0").
    dispersion : {"d3bj", "d3zero", "none"}
        DFT-D3 damping added on top of the potential ("none" switches it off).
    d3_functional : str
        Functional whose D3 parameters are used; "pbe" matches 7net-0's training data.
    """

    model: str = "7net-0"
    dispersion: str = "d3bj"
    d3_functional: str = "pbe"

    def __post_init__(self) -> None:
        if self.model not in ML_MODELS:
            raise ValueError(
                f"unknown ML model {self.model!r}; allowed (weights ship offline): "
                f"{', '.join(ML_MODELS)}"
            )
        if self.dispersion not in DISPERSIONS:
            raise ValueError(
                f"unknown dispersion {self.dispersion!r}; "
                f"allowed: {', '.join(DISPERSIONS)}"
            )

    @property
    def engine(self) -> str:
        return "mlip"

    def settings_hash(self) -> str:
        """Stable 16-hex-digit hash of the engine name and every setting."""
        return stable_hash({"engine": self.engine, **asdict(self)})

    def describe(self) -> str:
        d3 = (
            "" if self.dispersion == "none" else f" + D3({self.dispersion[2:].upper()})"
        )
        return f"SevenNet {self.model}{d3}"


@lru_cache(maxsize=4)
def _sevennet_model(model: str, device: str):
    """The loaded SevenNet network (weights), once per process, model and device.

    Calculators made from it share the weights (inference only, never trained
    here) but nothing else: each has its own results, atoms and thread limit.
    """
    try:
        from sevenn.calculator import SevenNetCalculator
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the ML engine needs the 'sevenn' package "
            "(pip install sevenn torch==2.13.0)"
        ) from err
    import warnings

    from .mlip_memory import bound_memory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calc = SevenNetCalculator(model, device=device)
    bound_memory(calc.model)  # large cells: checkpointed edge chunks (same results)
    return calc.model


def _sevennet(model: str, device: str, threads: int | None) -> Calculator:
    """A new SevenNet calculator on the shared network of ``model``."""
    import warnings

    import torch
    from sevenn.calculator import SevenNetCalculator

    class ThreadLimitedSevenNet(SevenNetCalculator):
        """SevenNet with its own torch thread count, set only while it computes
        (torch threads are process-wide: other calculators keep theirs)."""

        def calculate(self, *args, **kwargs):
            if threads is None:
                return super().calculate(*args, **kwargs)
            before = torch.get_num_threads()
            torch.set_num_threads(int(threads))
            try:
                return super().calculate(*args, **kwargs)
            finally:
                torch.set_num_threads(before)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calc = ThreadLimitedSevenNet(
            _sevennet_model(model, device), file_type="model_instance", device=device
        )
    calc.threads = threads
    return calc


def _mlip(settings: MLIPSettings, device: str, threads: int | None) -> Calculator:
    ml = _sevennet(settings.model, device, threads)
    if settings.dispersion == "none":
        return ml
    from ase.calculators.mixing import SumCalculator
    from dftd3.ase import DFTD3

    d3 = DFTD3(method=settings.d3_functional.upper(), damping=settings.dispersion)
    return SumCalculator([ml, d3])


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
        from .dft import gpaw_calculator, gpaw_settings

        if atoms is None:
            raise ValueError("the gpaw engine needs atoms= (k points follow the cell)")
        settings = gpaw_settings(settings, **overrides)
        calc, _ = gpaw_calculator(settings, atoms, txt=txt)
        calc.alkali_settings = settings
        return calc
    settings = engine_settings(engine, settings, **overrides)
    calc = _mlip(settings, device, threads)
    calc.alkali_settings = settings
    return calc


def engine_from_dict(data: dict):
    """Engine settings object from ``{"name": ..., **fields}`` (task files)."""
    name = data.get("name", "mlip")
    fields = {k: v for k, v in data.items() if k != "name"}
    if name == "gpaw":
        from .dft import DFTProtocol

        return DFTProtocol.from_dict(fields)
    if name == "mlip":
        return MLIPSettings(**fields)
    raise ValueError(f"unknown engine {name!r}; allowed: {', '.join(ENGINES)}")


def engine_to_dict(engine) -> dict:
    return {"name": engine.engine, **asdict(engine)}


def engine_settings(engine: str = "mlip", settings=None, **overrides) -> MLIPSettings:
    """The settings object of the ML engine (defaults, replaced by ``overrides``)."""
    if engine != "mlip":
        raise ValueError(f"unknown ML engine {engine!r}; allowed: mlip")
    base = settings if settings is not None else MLIPSettings()
    if overrides:
        allowed = set(asdict(base))
        bad = set(overrides) - allowed
        if bad:
            raise ValueError(
                f"unknown {engine} setting(s) {sorted(bad)}; allowed: {sorted(allowed)}"
            )
        base = MLIPSettings(**{**asdict(base), **overrides})
    return base
