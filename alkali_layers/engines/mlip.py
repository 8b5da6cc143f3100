"""The machine-learned engine: SevenNet (weights ship in the wheel) + DFT-D3.

``7net-0`` was trained on PBE (MPtrj) data, and plain PBE hardly binds graphite
layers, so Grimme's D3 dispersion (``dftd3`` package, Becke-Johnson damping by
default) is added and must be used consistently for hosts, models and references.
The network is loaded once per process and model; every calculator made from it is
independent (own results, own thread limit) and shares only the weights.
"""

from __future__ import annotations

from functools import lru_cache

from ase.calculators.calculator import Calculator

from .settings import MLIPSettings


@lru_cache(maxsize=4)
def _sevennet_model(model: str, device: str, modal: str | None = None):
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
        calc = SevenNetCalculator(model, device=device, modal=modal)
    bound_memory(calc.model)  # large cells: checkpointed edge chunks (same results)
    return calc.model


def _sevennet(
    model: str, device: str, threads: int | None, modal: str | None = None
) -> Calculator:
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
            _sevennet_model(model, device, modal),
            file_type="model_instance",
            device=device,
            modal=modal,
        )
    calc.threads = threads
    return calc


def mlip_calculator(
    settings: MLIPSettings, device: str, threads: int | None
) -> Calculator:
    model = settings.model
    if settings.finetuned is not None:  # a checkpoint of `alkali-layers finetune`
        from .finetune import finetuned_checkpoint

        model = str(finetuned_checkpoint(settings).resolve())
    ml = _sevennet(model, device, threads, settings.modal)
    if settings.dispersion == "none":
        return ml
    from ase.calculators.mixing import SumCalculator

    from .dispersion import dispersion_calculator

    disp = dispersion_calculator(
        settings.dispersion,
        settings.d3_functional.upper(),
        backend=settings.dispersion_backend,
        device=device,  # "torch": D3 on the network's device
    )
    return SumCalculator([ml, disp])
