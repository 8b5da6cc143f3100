"""Engine settings: small frozen dataclasses, no heavy imports.

The identity of every stored result includes its engine's settings hash, so results
of different settings never mix.  This module holds the settings of both engines
and nothing that imports torch, SevenNet or GPAW, so specs, task files and
analysis can read settings cheaply:

* :class:`MLIPSettings`: the machine-learned engine (SevenNet ``7net-0`` + DFT-D3,
  adapter :mod:`alkali_layers.engines.mlip`);
* :class:`GPAWSettings` and the staged :class:`DFTProtocol`: the DFT engine (adapter
  :mod:`alkali_layers.engines.gpaw`), with the named presets chosen from the scans
  in ``runs/convergence/``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import ClassVar

from ..settings import stable_hash

ENGINES: tuple[str, ...] = ("mlip", "gpaw")


DISPERSIONS: tuple[str, ...] = ("d3bj", "d3zero", "d4", "none")
#: implementations of D3 (see :mod:`alkali_layers.engines.dispersion`): the
#: ``dftd3`` package on the CPU, or ``torch-dftd`` on the network's torch device
DISPERSION_BACKENDS: tuple[str, ...] = ("dftd3", "torch")


#: SevenNet models whose weights ship inside the ``sevenn`` wheel (run offline):
#: 7net-0 (= the 11 July 2024 release), its 22 May 2024 release, 7net-l3i5 and
#: the multi-fidelity 7net-MF-0 (needs ``modal``, see :data:`ML_MODALS`)
ML_MODELS: tuple[str, ...] = ("7net-0", "7net-0_22May2024", "7net-l3i5", "7net-MF-0")
#: fidelity heads of the multi-fidelity models (training data: PBE = MPtrj)
ML_MODALS: dict[str, tuple[str, ...]] = {"7net-MF-0": ("PBE", "R2SCAN")}


class _Identified:
    """Settings whose hash is part of every result's identity.

    ``later_fields`` maps fields added after results were stored to their
    defaults: at the default they are left out of the hash, so that adding a field
    kept the identity (and the stored results) of every earlier setting.
    """

    later_fields: ClassVar[dict[str, object]] = {}

    def hash_fields(self) -> dict:
        """The fields that identify these settings."""
        fields = asdict(self)
        for name, default in self.later_fields.items():
            if fields.get(name) == default:
                fields.pop(name)
        return fields

    def settings_hash(self) -> str:
        """Stable 16-hex-digit hash of the engine name and every setting."""
        return stable_hash({"engine": self.engine, **self.hash_fields()})


def _finetune_meta(path) -> dict:
    """The ``finetune.json`` of a fine-tuned checkpoint, or a clear error."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"finetuned: no metadata file {path} (the finetune.json written by "
            "`alkali-layers finetune`)"
        )
    return json.loads(path.read_text())


@dataclass(frozen=True)
class MLIPSettings(_Identified):
    """Settings of the machine-learned engine.

    Attributes
    ----------
    model : str
        SevenNet model whose weights ship in the wheel (see :data:`ML_MODELS`).
    dispersion : {"d3bj", "d3zero", "d4", "none"}
        Dispersion added on top of the potential: DFT-D3 with BJ or zero damping,
        DFT-D4 (``dftd4``), or none.
    d3_functional : str
        Functional whose dispersion parameters are used; "pbe" matches the PBE
        training data of the models.
    modal : str or None
        Fidelity head of a multi-fidelity model ("PBE" or "R2SCAN" for 7net-MF-0);
        None for single-fidelity models.
    finetuned : str or None
        Metadata JSON (``finetune.json``) of a checkpoint fine-tuned from ``model``
        by :func:`alkali_layers.engines.finetune.finetune`; None uses the shipped
        weights.  The path is where to find the files, not their identity: it is
        left out of the settings hash.
    checkpoint_sha256 : str or None
        Identity of the fine-tuned checkpoint (sha256 of the ``.pth``, 16 hex
        digits); read from ``finetuned`` when left unset.
    training_data_hash : str or None
        Content hash of its training set; read from ``finetuned`` when unset.
    dispersion_backend : {"dftd3", "torch"}
        Implementation of D3: the ``dftd3`` package (CPU) or ``torch-dftd`` on the
        device of the network (GPU runs); the same two-body D3(BJ) within 1e-7
        eV/atom (tests/engines/test_dispersion.py).  Enters the hash only when
        not "dftd3".

    The three fine-tuning fields enter the settings hash only when set, so the
    hash of every shipped-model setting is the one stored results carry.
    """

    model: str = "7net-0"
    dispersion: str = "d3bj"
    d3_functional: str = "pbe"
    modal: str | None = None
    finetuned: str | None = None
    checkpoint_sha256: str | None = None
    training_data_hash: str | None = None
    dispersion_backend: str = "dftd3"
    later_fields: ClassVar[dict[str, object]] = {
        "modal": None,
        "checkpoint_sha256": None,
        "training_data_hash": None,
        "dispersion_backend": "dftd3",
    }

    def hash_fields(self) -> dict:
        """The fields that identify these settings (never the checkpoint's path)."""
        fields = super().hash_fields()
        fields.pop("finetuned", None)
        return fields

    def __post_init__(self) -> None:
        if self.model not in ML_MODELS:
            raise ValueError(
                f"unknown ML model {self.model!r}; allowed (weights ship offline): "
                f"{', '.join(ML_MODELS)}"
            )
        modals = ML_MODALS.get(self.model, ())
        if modals and self.modal not in modals:
            raise ValueError(
                f"{self.model} is multi-fidelity: set modal to one of "
                f"{', '.join(modals)} (got {self.modal!r})"
            )
        if not modals and self.modal is not None:
            raise ValueError(f"{self.model} has one fidelity: leave modal unset")
        if self.dispersion not in DISPERSIONS:
            raise ValueError(
                f"unknown dispersion {self.dispersion!r}; "
                f"allowed: {', '.join(DISPERSIONS)}"
            )
        if self.dispersion_backend not in DISPERSION_BACKENDS:
            raise ValueError(
                f"unknown dispersion_backend {self.dispersion_backend!r}; "
                f"allowed: {', '.join(DISPERSION_BACKENDS)}"
            )
        if self.dispersion_backend == "torch" and self.dispersion not in (
            "d3bj",
            "d3zero",
        ):
            raise ValueError(
                "dispersion_backend 'torch' computes D3 (d3bj, d3zero), not "
                f"{self.dispersion!r}: use the default 'dftd3' backend"
            )
        self._check_finetuned()

    def _check_finetuned(self) -> None:
        """Fill the identity of a fine-tuned checkpoint from its metadata JSON."""
        identity = (self.checkpoint_sha256, self.training_data_hash)
        if self.finetuned is None:
            if any(v is not None for v in identity):
                raise ValueError(
                    "checkpoint_sha256/training_data_hash belong to a fine-tuned "
                    "checkpoint: set finetuned to its finetune.json as well"
                )
            return
        if all(v is not None for v in identity):
            return
        from pathlib import Path

        path = Path(self.finetuned)
        meta = _finetune_meta(path)
        if meta.get("base_model") != self.model:
            raise ValueError(
                f"{path} was fine-tuned from {meta.get('base_model')!r}; "
                f"set model = {meta.get('base_model')!r}"
            )
        # absolute: task folders may run elsewhere (the path is not in the hash)
        object.__setattr__(self, "finetuned", str(path.resolve()))
        object.__setattr__(self, "checkpoint_sha256", meta["checkpoint_sha256"])
        object.__setattr__(self, "training_data_hash", meta["training_data_hash"])

    @classmethod
    def from_finetuned(cls, finetune_json: str) -> MLIPSettings:
        """The engine of a fine-tuned checkpoint: its base model, and the dispersion
        its labels kept (``finetune.json`` of ``alkali-layers finetune``)."""
        meta = _finetune_meta(finetune_json)
        return cls(
            model=meta["base_model"],
            dispersion=meta["dispersion"],
            finetuned=str(finetune_json),
        )

    @property
    def engine(self) -> str:
        return "mlip"

    def describe(self) -> str:
        modal = f" ({self.modal} head)" if self.modal else ""
        tuned = f" fine-tuned ({self.checkpoint_sha256})" if self.finetuned else ""
        backend = " (torch-dftd)" if self.dispersion_backend == "torch" else ""
        return (
            f"SevenNet {self.model}{tuned}{modal}"
            f"{DISPERSION_NAMES[self.dispersion]}{backend}"
        )


XCS: tuple[str, ...] = ("PBE", "vdW-DF2", "optPBE-vdW", "optB88-vdW", "BEEF-vdW")


#: functionals that diverge on cells with vacuum in this GPAW: bulk cells only
BULK_ONLY_XCS: tuple[str, ...] = ("optB88-vdW",)


DFT_DISPERSIONS: tuple[str, ...] = ("d3bj", "d3zero", "d4", "none")


#: PAW setup choices: "paw" = GPAW's defaults (gpaw-data); "li-sc" = Li with its 1s
#: shell in the valence (3 electrons), generated on first use by GPAW's own
#: generator with its 'Li3' parameters (see :func:`li_semicore_setup`)
SETUPS: tuple[str, ...] = ("paw", "li-sc")


MIXERS: tuple[str, ...] = ("default", "conservative")


@dataclass(frozen=True)
class GPAWSettings(_Identified):
    """Settings of the GPAW engine (part of every result's identity).

    Attributes
    ----------
    ecut_eV : float
        Plane-wave cutoff.
    kpt_density : float
        k-point density, points per reciprocal-length unit (A), see the module notes.
    smearing_eV : float
        Fermi-Dirac width.
    xc : {"optPBE-vdW", "PBE", "vdW-DF2", "optB88-vdW", "BEEF-vdW"}
        Exchange-correlation functional.  Default vdW-optPBE (Klimes et al., J.
        Phys.: Condens. Matter 22, 022201 (2010)), chosen on the validation in
        ``runs/validation/README.md`` (docs/science/dft_protocol.md): it gets the bcc
        metals within 1.5 % in a and 1 % in cohesive energy and, with the in-plane
        lattice relaxed and Li 1s in the valence, reproduces the published
        vdW-optPBE formation energies of LiC6, NaC6, NaC8 and KC8 within 25 meV per
        metal atom.  The earlier default, PBE + D3(BJ), is :data:`PBE_D3BJ`.
    dispersion : {"none", "d3bj", "d3zero", "d4"}
        Dispersion added on top of PBE: DFT-D3 with Becke-Johnson or zero damping
        (``dftd3`` package), DFT-D4 (``dftd4`` package, charge-dependent C6), or none
        (the default, as the vdW-DF functionals carry their own; ``xc="PBE"`` alone
        is plain PBE without any van der Waals term).
    scf_energy_eV : float
        SCF convergence of the energy (GPAW: eV per valence electron).
    scf_density : float
        SCF convergence of the density (electrons per valence electron).
    maxiter : int
        SCF iteration cap.
    mixer : {"default", "conservative"}
        Density mixing; "conservative" (beta 0.02, 5 old densities, weight 100) is
        what an SCF failure is retried with (with twice the iteration cap).
    setups : {"li-sc", "paw"}
        PAW setups (see :data:`SETUPS`); "li-sc" (default) puts Li 1s in the valence
        (measured: the frozen 1s of GPAW's standard Li setup raises E_f(LiC6) by 31
        meV with PBE + D3(BJ) and 61 meV with vdW-optPBE); no other element changes.
    """

    ecut_eV: float = 500.0
    kpt_density: float = 4.0
    smearing_eV: float = 0.1
    xc: str = "optPBE-vdW"
    dispersion: str = "none"
    scf_energy_eV: float = 5e-5
    scf_density: float = 1e-4
    maxiter: int = 300
    mixer: str = "default"
    setups: str = "li-sc"
    later_fields: ClassVar[dict[str, object]] = {"setups": "paw"}

    def __post_init__(self) -> None:
        if self.xc not in XCS:
            raise ValueError(f"unknown xc {self.xc!r}; allowed: {', '.join(XCS)}")
        if self.dispersion not in DFT_DISPERSIONS:
            raise ValueError(
                f"unknown dispersion {self.dispersion!r}; "
                f"allowed: {', '.join(DFT_DISPERSIONS)}"
            )
        if self.xc != "PBE" and self.dispersion != "none":
            raise ValueError(
                f"{self.xc} already describes van der Waals binding; "
                "set dispersion='none'"
            )
        if self.setups not in SETUPS:
            raise ValueError(
                f"unknown setups {self.setups!r}; allowed: {', '.join(SETUPS)}"
            )
        if self.mixer not in MIXERS:
            raise ValueError(
                f"unknown mixer {self.mixer!r}; allowed: {', '.join(MIXERS)}"
            )
        for name in ("ecut_eV", "kpt_density", "smearing_eV"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"{name} must be positive, got {getattr(self, name)!r}"
                )

    @property
    def engine(self) -> str:
        return "gpaw"

    def describe(self) -> str:
        vdw = DISPERSION_NAMES[self.dispersion]
        setups = ", Li 1s in valence" if self.setups == "li-sc" else ""
        return (
            f"GPAW PW {self.ecut_eV:g} eV, {self.xc}{vdw}, k-density "
            f"{self.kpt_density:g}, FD {self.smearing_eV:g} eV{setups}"
        )


#: The GPAW treatment used as the default until 2026-12-01 (PBE + DFT-D3(BJ), GPAW's
#: frozen-1s Li setup).  Specs whose results were computed with it name these three
#: fields in their ``[engine]`` table, which keeps their settings hashes (and
#: stored results) unchanged.
PBE_D3BJ: dict[str, str] = {"xc": "PBE", "dispersion": "d3bj", "setups": "paw"}


#: how each dispersion setting reads in descriptions
DISPERSION_NAMES: dict[str, str] = {
    "d3bj": " + D3(BJ)",
    "d3zero": " + D3(zero)",
    "d4": " + D4",
    "none": "",
}


#: k-point density of reference calculations (bcc metals, primitive hosts).
REFERENCE_KPT_DENSITY = 10.0


#: Named presets.  "final" for energies, "fast" for relaxations, chosen from the
#: scans in runs/convergence/ (ML-relaxed geometries, PBE + D3(BJ)).  Formation
#: energy per metal atom of C6LiC6, the worst case (one Li per 12 C, metallic):
#: cutoff 400 / 500 / 600 eV -> +9.6 / +2.2 / 0 meV; k density 3 / 4 / 5 / 6 ->
#: +8.3 / -8.5 / +3.8 / 0 meV (the k error oscillates; per atom it is < 1 meV).
#: "final" = 600 eV and density 5 keeps E_f within 5 meV/metal atom; "fast" is for
#: geometries only (forces), its energies are never stored.
PRESETS: dict[str, GPAWSettings] = {
    "final": GPAWSettings(ecut_eV=600.0, kpt_density=5.0),
    "fast": GPAWSettings(
        ecut_eV=400.0, kpt_density=2.5, scf_energy_eV=2e-4, scf_density=5e-4
    ),
}


def gpaw_settings(
    settings: GPAWSettings | str | None = None, **overrides
) -> GPAWSettings:
    """Settings from a preset name or object, with single fields replaced."""
    if settings is None:
        settings = "final"
    if isinstance(settings, str):
        if settings not in PRESETS:
            raise ValueError(
                f"unknown GPAW preset {settings!r}; allowed: {', '.join(PRESETS)}"
            )
        settings = PRESETS[settings]
    if overrides:
        allowed = set(asdict(settings))
        bad = set(overrides) - allowed
        if bad:
            raise ValueError(
                f"unknown gpaw setting(s) {sorted(bad)}; allowed: {sorted(allowed)}"
            )
        settings = replace(settings, **overrides)
    return settings


@dataclass(frozen=True)
class DFTProtocol:
    """The GPAW engine as campaigns use it: staged ML -> DFT relaxation.

    1. ``prerelax`` (optional): relax with the ML engine (cheap, removes most of the
       distance to the minimum);
    2. relax with GPAW at ``relax`` settings (the "fast" preset by default);
    3. a single point with GPAW at ``final`` settings: the stored energy.

    Attributes
    ----------
    final : GPAWSettings
        Settings of the energy that is stored.
    reference_kpt_density : float
        Minimum k-point density of reference tasks (see :meth:`for_reference`).
    relax : GPAWSettings
        Settings of the relaxation (may equal ``final``).
    prerelax : MLIPSettings or None
        ML engine for the pre-relaxation; None skips it.
    error_bars : bool
        After the final energy, one more GPAW calculation with BEEF-vdW at the same
        geometry and settings gives the 2000-member BEEF ensemble of its energy
        (``ase.dft.bee``; Wellendorff et al., PRB 85, 235149 (2012)); tables then
        carry the ensemble standard deviation of every formation energy and
        voltage (``*_std_eV``, ``*_std_V``).  Off by default (it costs one SCF with
        a nonlocal functional per structure).
    """

    final: GPAWSettings = PRESETS["final"]
    relax: GPAWSettings = PRESETS["fast"]
    prerelax: object = None  # MLIPSettings | None (import cycle avoided)
    reference_kpt_density: float = REFERENCE_KPT_DENSITY
    error_bars: bool = False

    def for_reference(self) -> DFTProtocol:
        """The protocol for reference tasks (bcc metals, primitive hosts).

        Their cells are tiny, so they get at least ``reference_kpt_density``: the
        k-point error of a bcc metal enters every formation energy 1:1 and it is
        still several meV/atom at the densities affordable for supercells
        (runs/convergence/bcc_Na).  The cutoff stays that of the models (cutoff
        errors cancel only between calculations at the same cutoff).
        """
        k = self.reference_kpt_density
        return replace(
            self,
            final=replace(self.final, kpt_density=max(self.final.kpt_density, k)),
            relax=replace(self.relax, kpt_density=max(self.relax.kpt_density, k)),
        )

    @property
    def engine(self) -> str:
        return "gpaw"

    def settings_hash(self) -> str:
        fields = asdict(self)
        if not self.error_bars:  # added later: at its default it keeps the identity
            fields.pop("error_bars")
        return stable_hash(
            {
                "engine": self.engine,
                **fields,
                "final": self.final.hash_fields(),
                "relax": self.relax.hash_fields(),
                "prerelax": None
                if self.prerelax is None
                else self.prerelax.hash_fields(),
            }
        )

    def describe(self) -> str:
        pre = "ML pre-relax, " if self.prerelax is not None else ""
        bars = ", BEEF-vdW ensemble error bars" if self.error_bars else ""
        return (
            f"{pre}GPAW relax ({self.relax.describe()}), energy "
            f"{self.final.describe()}{bars}"
        )

    @classmethod
    def from_table(cls, table: dict) -> DFTProtocol:
        """From a spec's ``[engine]`` table.

        Keys: ``final`` and ``relax`` (preset names, default "final" and "fast"),
        ``prerelax`` ("mlip" or "none", default "mlip"), ``prerelax_finetuned``
        (the ``finetune.json`` of a fine-tuned checkpoint to pre-relax with instead
        of 7net-0 + D3(BJ)), ``error_bars`` (true or false, default false) and any
        GPAWSettings field, which then applies to both stages (e.g. ``xc =
        "vdW-DF2"``, ``dispersion = "none"``).
        """

        table = dict(table)
        final = table.pop("final", "final")
        relax = table.pop("relax", "fast")
        prerelax = table.pop("prerelax", "mlip")
        tuned = table.pop("prerelax_finetuned", None)
        if tuned is not None and prerelax != "mlip":
            raise ValueError(
                f"prerelax_finetuned needs prerelax = 'mlip' (got {prerelax!r})"
            )
        ref_k = float(table.pop("reference_kpt_density", REFERENCE_KPT_DENSITY))
        error_bars = table.pop("error_bars", False)
        if not isinstance(error_bars, bool):
            raise ValueError(f"error_bars must be true or false, got {error_bars!r}")
        if prerelax not in ("mlip", "none"):
            raise ValueError(f"unknown prerelax {prerelax!r}; allowed: mlip, none")
        ml = None
        if prerelax == "mlip":
            ml = MLIPSettings() if tuned is None else MLIPSettings.from_finetuned(tuned)
        return cls(
            final=gpaw_settings(final, **table),
            relax=gpaw_settings(relax, **table),
            prerelax=ml,
            reference_kpt_density=ref_k,
            error_bars=error_bars,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DFTProtocol:

        pre = data.get("prerelax")
        return cls(
            final=GPAWSettings(**data["final"]),
            relax=GPAWSettings(**data["relax"]),
            prerelax=None if pre is None else MLIPSettings(**pre),
            reference_kpt_density=data.get(
                "reference_kpt_density", REFERENCE_KPT_DENSITY
            ),
            error_bars=bool(data.get("error_bars", False)),
        )


def energy_settings(engine):
    """The settings that produce a stored energy.

    A :class:`DFTProtocol` stores the energy of its ``final`` stage; an
    :class:`MLIPSettings` or :class:`GPAWSettings` is its own single stage.

    Parameters
    ----------
    engine : DFTProtocol, GPAWSettings or MLIPSettings
        A campaign's or task's engine.

    Returns
    -------
    GPAWSettings or MLIPSettings
    """
    return engine.final if isinstance(engine, DFTProtocol) else engine


def engine_from_dict(data: dict):
    """Engine settings object from ``{"name": ..., **fields}`` (task files)."""
    name = data.get("name", "mlip")
    fields = {k: v for k, v in data.items() if k != "name"}
    if name == "gpaw":
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
