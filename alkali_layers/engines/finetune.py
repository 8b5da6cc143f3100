"""Fine-tuning the fast engine on the project's own DFT data (SevenNet's trainer).

The shipped SevenNet models were trained on VASP PBE (MPtrj); on the project's cells
they are 0.1 eV per metal atom away from its GPAW numbers (``runs/ml_models``).  This
module turns GPAW energies and forces kept by the campaigns into a training set and
fine-tunes a pretrained checkpoint with SevenNet's own training code (``sevenn
train``, its fine-tuning preset ``presets/fine_tune.yaml``); nothing here is a
training loop.

Data
----
A *DFT frame* is an :class:`ase.Atoms` whose calculator holds a DFT energy (eV) and
forces (eV/A), optionally stress (eV/A^3), with ``atoms.info``:

* ``model``: the structure (campaign task label) it belongs to: the unit of the
  train/validation split (whole models are held out, never single frames, since the
  frames of one relaxation are strongly correlated);
* ``protocol``: the DFT settings that change absolute energies (functional,
  dispersion, cutoff, smearing, setups; k-point density and SCF tolerances are
  convergence parameters and are left out), frames of one protocol only are
  trained on together;
* ``dispersion``: the dispersion correction included in the energy ("d3bj",
  "d3zero", "d4" or "none").

:func:`collect_frames` reads them from campaign directories (every step of the GPAW
relaxation, ``tasks/*/gpaw-relax.traj``, and the final single points with their
forces from ``results.db``) and from extended-XYZ/trajectory files a user adds.

A staged GPAW relaxation takes its steps at a cheaper preset than its final single
points (400 eV and k-density 2.5 against 600 eV and 5): the two disagree on
formation energies by up to 48 meV per metal atom but on forces by ~0.005 eV/A in
one-layer cells (``runs/finetune/README.md``).  ``forces_from`` lets the
relaxation steps train forces only (:func:`forces_only`: energy label NaN; zero
energy weight in SevenNet's loss, :func:`energy_weighted`) while the final points
set the energies.

Labels
------
The network learns the DFT energy *without* dispersion: the dispersion named in a
frame is subtracted (same ``dftd3``/``dftd4`` calculator the engine adds back at run
time, :mod:`alkali_layers.engines.dispersion`), so that the fine-tuned model +
dispersion reproduces DFT + dispersion.  GPAW energies are relative to GPAW's
reference atoms and VASP's (the pretraining data) to free atoms of different PAW
data: their difference is, to first order, a constant per element.  With
``align_energies`` one offset per element is fitted (least squares over the
*training* frames, E_DFT - E_pretrained = sum_Z n_Z mu_Z) and subtracted from every
label, so the network learns only what differs beyond that constant.  A per-element
constant cancels exactly in formation energies (E_f = [E(M_n C_m) - n E(M) -
m E(C)] / n with references of the same engine), the quantity the project
computes; absolute energies of the fine-tuned model are on the pretrained model's
scale, not GPAW's.  An element absent from training gets no offset (mu = 0): its
validation energies then carry the full GPAW - VASP reference difference.

Outputs (``out/``)
------------------
``checkpoint.pth`` (SevenNet's best-validation checkpoint), ``finetune.json`` (the
metadata: checkpoint sha256, training-data hash, held-out models, epochs, CPU time,
errors before/after on the training and validation frames, energy offsets),
``train.extxyz``/``valid.extxyz`` (the labels as trained), ``sevenn/`` (SevenNet's
input.yaml, log and learning curve).  A finished fine-tune is never overwritten; a
killed one resumes from SevenNet's last periodic checkpoint (``resumed_from`` in the
metadata; its ``cpu_s`` then counts the resumed run only, and SevenNet's
best-validation checkpoint is the best of the resumed epochs).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ..jsonio import read_json, write_json_atomic
from ..settings import hex_key, stable_hash
from .settings import DISPERSION_NAMES, DISPERSIONS, ML_MODALS, ML_MODELS

FINETUNE_FILE = "finetune.json"
CHECKPOINT_FILE = "checkpoint.pth"
TRAIN_FILE = "train.extxyz"
VALID_FILE = "valid.extxyz"
#: SevenNet's input when some frames train forces only (energy_weighted)
WEIGHTED_TRAIN_FILE = "train_weighted.traj"
WEIGHTED_VALID_FILE = "valid_weighted.traj"
SEVENN_DIR = "sevenn"
#: where each relaxation step of a GPAW task lives (see calculators/staged.py)
RELAX_TRAJECTORY = "gpaw-relax.traj"
#: ``atoms.info`` / row key naming the source model of a derived cell (rattled
#: copies of one relaxed model are one model for the split); default: the label
MODEL_INFO_KEY = "dft_model"


@dataclass(frozen=True)
class FinetuneSettings:
    """Training settings (SevenNet's fine-tuning preset unless stated).

    Attributes
    ----------
    base_model : str
        Pretrained single-fidelity model to start from (see
        :data:`~alkali_layers.engines.settings.ML_MODELS`).
    epochs : int
        Passes over the training frames.
    learning_rate : float
        Adam learning rate (preset: 0.004).
    lr_decay_per_epoch : float
        Exponential learning-rate decay per epoch (preset: 0.99).
    batch_size : int
        Frames per optimizer step (preset: 4).
    force_loss_weight, stress_loss_weight : float
        Loss weights relative to the energy per atom (preset: 1.0, 0.01).
    huber_delta : float
        Huber loss width (preset: 0.01, "keeping the original loss gives better
        fine-tuning results").
    seed : int
        Random seed of SevenNet (shuffling, initial state).
    align_energies : bool
        Subtract per-element energy offsets fitted on the training frames (see the
        module notes) before training.
    checkpoint_every : int
        SevenNet writes a resumable checkpoint every this many epochs.
    """

    base_model: str = "7net-0"
    epochs: int = 100
    learning_rate: float = 0.004
    lr_decay_per_epoch: float = 0.99
    batch_size: int = 4
    force_loss_weight: float = 1.0
    stress_loss_weight: float = 0.01
    huber_delta: float = 0.01
    seed: int = 1
    align_energies: bool = True
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        if self.base_model not in ML_MODELS or self.base_model in ML_MODALS:
            allowed = [m for m in ML_MODELS if m not in ML_MODALS]
            raise ValueError(
                f"cannot fine-tune {self.base_model!r}; allowed (single-fidelity, "
                f"shipped): {', '.join(allowed)}"
            )
        for name in ("epochs", "batch_size", "checkpoint_every"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be an integer >= 1")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive")


# --- frames ---------------------------------------------------------------------
def protocol_key(settings) -> str:
    """The DFT settings that set the absolute energy scale of a GPAW frame.

    Cutoff, functional, dispersion, smearing and setups; k-point density, SCF
    tolerances and density mixing are convergence parameters (references run
    denser k grids than models of the same protocol) and are left out.
    """
    setups = ", Li 1s in valence" if settings.setups == "li-sc" else ""
    return (
        f"GPAW PW {settings.ecut_eV:g} eV, {settings.xc}"
        f"{DISPERSION_NAMES[settings.dispersion]}, FD {settings.smearing_eV:g} eV"
        f"{setups}"
    )


def dft_frame(
    atoms: Atoms,
    energy_eV: float,
    forces_eV_A,
    model: str,
    protocol: str,
    dispersion: str,
    source: str,
    stress=None,
) -> Atoms:
    """A DFT frame (see the module notes): a copy of ``atoms`` with its labels."""
    if dispersion not in DISPERSIONS:
        raise ValueError(
            f"{source}: unknown dispersion {dispersion!r}; "
            f"allowed: {', '.join(DISPERSIONS)}"
        )
    forces = np.asarray(forces_eV_A, dtype=float)
    if forces.shape != (len(atoms), 3) or not np.isfinite(forces).all():
        raise ValueError(f"{source}: forces must be finite, shape ({len(atoms)}, 3)")
    if not np.isfinite(energy_eV):
        raise ValueError(f"{source}: energy is not finite")
    frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    results = {"energy": float(energy_eV), "forces": forces}
    if stress is not None:
        results["stress"] = np.asarray(stress, dtype=float)
    frame.calc = SinglePointCalculator(frame, **results)
    frame.info.update(
        model=str(model), protocol=protocol, dispersion=dispersion, source=source
    )
    return frame


def _trajectory_frames(path: Path, model: str, relax_settings) -> list[Atoms]:
    """Every complete step of a GPAW relaxation trajectory (energy + forces)."""
    from ase.io import Trajectory

    frames = []
    try:
        traj = Trajectory(str(path))
    except Exception:  # noqa: BLE001 - a file cut short before its header
        return frames
    with traj:
        for i in range(len(traj)):
            try:
                atoms = traj[i]
                energy = atoms.get_potential_energy()
                forces = atoms.get_forces()
            except Exception:  # noqa: BLE001 - a frame cut short by a kill
                continue
            stress = None
            if "stress" in (atoms.calc.results if atoms.calc else {}):
                stress = atoms.calc.results["stress"]
            frames.append(
                dft_frame(
                    atoms,
                    energy,
                    forces,
                    model,
                    protocol_key(relax_settings),
                    relax_settings.dispersion,
                    f"{path}@{i}",
                    stress,
                )
            )
    return frames


def relax_trajectory(root: Path, row) -> Path:
    """Where the GPAW relaxation steps of a campaign's database row are kept.

    A row moved to a new task key (``ResultStore.rekey``) keeps its task folder
    under the key it was first written under (``legacy_task_key``): that folder is
    used when the current key has none.
    """
    paths = [
        root / "tasks" / f"{row.label}.{key}" / RELAX_TRAJECTORY
        for key in (row.get("task_key"), row.get("legacy_task_key"))
        if key is not None
    ]
    return next((path for path in paths if path.exists()), paths[0])


def _campaign_frames(root: Path) -> list[Atoms]:
    """GPAW frames of one campaign directory: relaxation steps and final points.

    Relaxation steps come from ``tasks/<label>.<key>/gpaw-relax.traj`` (committed
    with the database; the rest of a task folder stays local), found through the
    task's ``task.json`` while the folder is complete, or through the finished
    database row (its ``task_key``, engine settings and model name) in a fresh
    clone; each trajectory is read once.
    """
    from .settings import DFTProtocol, GPAWSettings

    trajectories: dict[Path, tuple[str, GPAWSettings]] = {}
    for task_file in sorted(root.glob("tasks/*/task.json")):
        task = read_json(task_file) or {}
        engine = task.get("engine") or {}
        traj = task_file.parent / RELAX_TRAJECTORY
        if engine.get("name") != "gpaw" or not traj.exists():
            continue
        protocol = DFTProtocol.from_dict(
            {k: v for k, v in engine.items() if k != "name"}
        )
        info = (task.get("atoms") or {}).get("info") or {}
        trajectories[traj] = (info.get(MODEL_INFO_KEY, task["label"]), protocol.relax)
    frames = []
    final_points = []
    db_path = root / "results.db"
    if db_path.exists():
        import ase.db

        db = ase.db.connect(str(db_path), use_lock_file=False)
        for row in db.select(status="ok", engine="gpaw"):
            settings = row.data["engine_settings"]
            model = row.get(MODEL_INFO_KEY, row.label)
            traj = relax_trajectory(root, row)
            if traj not in trajectories and traj.exists():
                trajectories[traj] = (model, GPAWSettings(**settings["relax"]))
            outcome = row.data.get("outcome", {})
            forces = outcome.get("dft_forces_eV_A")
            if forces is None and row.natoms == 1:
                # one atom per periodic cell (the bcc references): its force is
                # zero by translation invariance, rows from before forces were kept
                # are exact training frames too
                forces = np.zeros((1, 3))
            if forces is None:
                continue  # stored before forces were kept
            final = GPAWSettings(**settings["final"])
            final_points.append(
                dft_frame(
                    row.toatoms(),
                    row.energy,
                    forces,
                    model,
                    protocol_key(final),
                    final.dispersion,
                    f"{db_path}#{row.id}",
                    outcome.get("dft_stress_eV_A3"),
                )
            )
    for traj, (model, relax_settings) in sorted(trajectories.items()):
        frames += _trajectory_frames(traj, model, relax_settings)
    return frames + final_points


def _file_frames(path: Path) -> list[Atoms]:
    """Frames of a user's file (extxyz, ASE trajectory, anything ``ase.io`` reads).

    Every frame needs an energy and forces; ``info`` may name ``model`` (default:
    the file name without suffix), ``protocol`` (default ``"file:<name>"``) and the
    ``dispersion`` included in the energy (default "none": plain DFT).
    """
    from ase.io import read

    frames = []
    for i, atoms in enumerate(read(str(path), index=":")):
        source = f"{path}@{i}"
        try:
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
        except Exception as err:  # noqa: BLE001
            raise ValueError(
                f"{source}: a DFT frame needs an energy and forces ({err})"
            ) from err
        stress = None
        if atoms.calc is not None and "stress" in atoms.calc.results:
            stress = atoms.calc.results["stress"]
        info = atoms.info
        frames.append(
            dft_frame(
                atoms,
                energy,
                forces,
                info.get("model", path.stem),
                info.get("protocol", f"file:{path.name}"),
                info.get("dispersion", "none"),
                source,
                stress,
            )
        )
    return frames


def _frames_of(sources) -> list[Atoms]:
    """Every DFT frame of campaign directories and files, of every protocol."""
    frames = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            frames += _campaign_frames(path)
        elif path.is_file():
            frames += _file_frames(path)
        else:
            raise FileNotFoundError(f"{path}: no campaign directory or frame file")
    if not frames:
        raise ValueError(
            "no DFT frames with energies and forces found in "
            f"{', '.join(map(str, sources))} (GPAW campaigns keep them since the "
            "forces were stored; earlier rows hold energies only)"
        )
    return frames


def forces_only(frame: Atoms) -> Atoms:
    """A copy of a DFT frame whose energy (and stress) label is removed (NaN): it
    trains forces only (:func:`energy_weighted` gives it zero energy weight)."""
    res = dict(frame.calc.results)
    res["energy"] = float("nan")
    res.pop("stress", None)
    copy = frame.copy()
    copy.calc = SinglePointCalculator(copy, **res)
    return copy


def energy_weighted(frames: list[Atoms], network) -> list[Atoms]:
    """SevenNet's input for frames of which some lack an energy label.

    SevenNet's dataset statistics need a finite energy on every frame, so a frame
    without one (:func:`forces_only`) gets ``network``'s prediction as a stand-in
    and a loss weight of zero on energy (and stress): ``info["data_weight"]``,
    read with ``use_weight``, so the stand-in never enters the loss.  SevenNet's
    own energy MAE in its log counts the stand-ins; the errors in
    ``finetune.json`` do not.  Written as an ASE trajectory (extended XYZ cannot
    hold the weight table).
    """
    unlabelled = [f for f in frames if not has_energy(f)]
    stand_ins = iter(_predict(network, unlabelled)[0])
    out = []
    for f in frames:
        res = dict(f.calc.results)
        labelled = has_energy(f)
        if not labelled:
            res["energy"] = float(next(stand_ins))
        copy = Atoms(f.numbers, f.positions, cell=f.cell, pbc=f.pbc)
        copy.calc = SinglePointCalculator(copy, **res)
        weight = 1.0 if labelled else 0.0
        copy.info["data_weight"] = {"energy": weight, "force": 1.0, "stress": weight}
        copy.info["model"] = f.info["model"]
        out.append(copy)
    return out


def has_energy(frame: Atoms) -> bool:
    """Whether a frame carries an energy label (see :func:`forces_only`)."""
    return bool(np.isfinite(frame.calc.results["energy"]))


def collect_frames(sources, protocol: str | None = None, forces_from=()) -> list[Atoms]:
    """DFT frames of campaign directories and files, of one protocol.

    Parameters
    ----------
    sources : iterable of path
        Campaign directories (``runs/<study>``: GPAW relaxation trajectories in
        ``tasks/*/`` and final single points with forces in ``results.db``) and
        files of frames (see :func:`_file_frames`).
    protocol : str, optional
        Keep frames of this protocol (see :func:`protocol_key`); needed when the
        sources hold more than one (e.g. a staged relaxation's "fast" steps and its
        "final" single points, whose cutoffs differ).
    forces_from : iterable of str
        Further protocols whose frames join *without* their energies
        (:func:`forces_only`): their forces are close to ``protocol``'s while their
        absolute energies are not.  The relaxation steps of a staged GPAW
        relaxation (cheaper preset) can so teach forces along the whole path
        while the final single points set the energies.  Needs ``protocol``.

    Returns
    -------
    list of ase.Atoms
        DFT frames, in source order; the energy-labelled ones first.
    """
    frames = _frames_of(sources)
    counts: dict[str, int] = {}
    for f in frames:
        counts[f.info["protocol"]] = counts.get(f.info["protocol"], 0) + 1
    if protocol is None and len(counts) > 1:
        listing = "; ".join(f"{k!r}: {n} frames" for k, n in counts.items())
        raise ValueError(
            "the frames come from more than one DFT protocol (absolute energies do "
            f"not mix); choose one with protocol= / --protocol: {listing}"
        )
    forces_from = list(forces_from)
    if forces_from and protocol is None:
        raise ValueError("forces_from needs the protocol whose energies are trained")
    for wanted in [protocol, *forces_from]:
        if wanted is not None and wanted not in counts:
            raise ValueError(
                f"no frames of protocol {wanted!r}; found: {', '.join(counts)}"
            )
    if protocol in forces_from:
        raise ValueError(f"protocol {protocol!r} cannot also be a forces-only one")
    if protocol is not None:
        frames = [f for f in frames if f.info["protocol"] == protocol] + [
            forces_only(f) for f in frames if f.info["protocol"] in forces_from
        ]
    return frames


def training_data_hash(frames: list[Atoms]) -> str:
    """Content hash of DFT frames: structures, labels, models and protocols
    (positions and forces rounded to 1e-6, energies to 1e-6 eV)."""
    items = []
    for f in frames:
        res = f.calc.results
        items.append(
            {
                "numbers": f.numbers.tolist(),
                "positions": np.round(f.positions, 6).tolist(),
                "cell": np.round(f.cell.array, 6).tolist(),
                "pbc": f.pbc.tolist(),
                "energy": round(float(res["energy"]), 6) if has_energy(f) else None,
                "forces": np.round(res["forces"], 6).tolist(),
                "stress": None
                if "stress" not in res
                else np.round(res["stress"], 6).tolist(),
                "model": f.info["model"],
                "protocol": f.info["protocol"],
                "dispersion": f.info["dispersion"],
            }
        )
    return stable_hash(items)


def split_by_model(
    frames: list[Atoms], hold_out=(), fraction: float = 0.2
) -> tuple[list[Atoms], list[Atoms]]:
    """Split frames into (training, validation) by whole models.

    Parameters
    ----------
    frames : list of ase.Atoms
        DFT frames with ``info["model"]``.
    hold_out : iterable of str
        Models (shell patterns, e.g. ``"*-Cs-*"`` for every Cs model) whose frames
        all go to validation.  Empty: the first ``fraction`` of the models in the
        order of their name's hash (at least one): deterministic, and not biased by
        the order of the sources.
    fraction : float
        Share of the models held out when ``hold_out`` is empty.

    Returns
    -------
    (list, list)
        Training and validation frames; no model is in both.
    """
    models = sorted({f.info["model"] for f in frames})
    if len(models) < 2:
        raise ValueError(
            f"need frames of at least two models to hold one out, got {models}"
        )
    hold_out = list(hold_out)
    if hold_out:
        held = set()
        for pattern in hold_out:
            matched = fnmatch.filter(models, pattern)
            if not matched:
                raise ValueError(
                    f"hold-out pattern {pattern!r} matches no model; models: "
                    f"{', '.join(models)}"
                )
            held.update(matched)
    else:
        n = max(1, round(fraction * len(models)))
        held = set(sorted(models, key=stable_hash)[:n])
    if len(held) == len(models):
        raise ValueError("every model is held out: nothing left to train on")
    train = [f for f in frames if f.info["model"] not in held]
    valid = [f for f in frames if f.info["model"] in held]
    return train, valid


# --- labels ---------------------------------------------------------------------
def without_dispersion(frames: list[Atoms]) -> list[Atoms]:
    """Copies whose labels are the DFT energy, forces (and stress) minus the
    dispersion named in ``info["dispersion"]`` (what the network learns)."""
    from .dispersion import dispersion_calculator

    calcs: dict[str, object] = {}
    out = []
    for f in frames:
        res = dict(f.calc.results)
        disp = f.info["dispersion"]
        copy = f.copy()
        if disp != "none":
            calc = calcs.setdefault(disp, dispersion_calculator(disp, "PBE"))
            probe = f.copy()
            probe.calc = calc
            res["energy"] = res["energy"] - probe.get_potential_energy()
            res["forces"] = res["forces"] - probe.get_forces()
            if "stress" in res:
                res["stress"] = res["stress"] - probe.get_stress()
        copy.calc = SinglePointCalculator(copy, **res)
        copy.info["dispersion_removed"] = disp
        out.append(copy)
    return out


def _network(model: str, threads: int | None = None):
    """A SevenNet calculator without dispersion (shipped name or checkpoint path)."""
    import warnings

    import torch
    from sevenn.calculator import SevenNetCalculator

    if threads:
        torch.set_num_threads(int(threads))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SevenNetCalculator(model, device="cpu")


def _predict(calc, frames: list[Atoms]) -> tuple[np.ndarray, list[np.ndarray]]:
    energies, forces = [], []
    for f in frames:
        probe = Atoms(f.numbers, f.positions, cell=f.cell, pbc=f.pbc)
        probe.calc = calc
        energies.append(probe.get_potential_energy())
        forces.append(probe.get_forces())
    return np.array(energies), forces


def fit_energy_offsets(
    frames: list[Atoms], predicted_eV: np.ndarray
) -> dict[str, float]:
    """Per-element offsets mu_Z (eV) minimising sum_i (E_i - P_i - sum_Z n_iZ mu_Z)^2.

    ``E`` are the frames' energies and ``P`` the predictions of the network that is
    fine-tuned (frames without an energy label are skipped); least squares with
    the minimum-norm solution (elements that always appear in the same proportion
    share their offset evenly).
    """
    keep = [i for i, f in enumerate(frames) if has_energy(f)]
    frames = [frames[i] for i in keep]
    predicted_eV = np.asarray(predicted_eV)[keep]
    symbols = sorted({s for f in frames for s in f.get_chemical_symbols()})
    counts = np.array(
        [[f.get_chemical_symbols().count(s) for s in symbols] for f in frames],
        dtype=float,
    )
    target = np.array([f.get_potential_energy() for f in frames]) - predicted_eV
    mu, *_ = np.linalg.lstsq(counts, target, rcond=None)
    return {s: float(m) for s, m in zip(symbols, mu, strict=True)}


def shifted(frames: list[Atoms], offsets_eV: dict[str, float]) -> list[Atoms]:
    """Copies with ``sum_Z n_Z mu_Z`` subtracted from the energy label."""
    out = []
    for f in frames:
        res = dict(f.calc.results)
        res["energy"] -= sum(offsets_eV.get(s, 0.0) for s in f.get_chemical_symbols())
        copy = f.copy()
        copy.calc = SinglePointCalculator(copy, **res)
        out.append(copy)
    return out


def errors(calc, frames: list[Atoms]) -> dict:
    """Energy error per atom (meV/atom, over the frames with an energy label) and
    force-component errors (eV/A) of ``calc`` against the frames' labels: mean
    absolute and root mean square."""
    if not frames:
        return {}
    pred_e, pred_f = _predict(calc, frames)
    n = np.array([len(f) for f in frames])
    labelled = np.array([has_energy(f) for f in frames])
    de = ((pred_e - np.array([f.calc.results["energy"] for f in frames])) / n)[labelled]
    df = np.concatenate(
        [(p - f.get_forces()).ravel() for p, f in zip(pred_f, frames, strict=True)]
    )
    energy = {}
    if len(de):
        energy = {
            "energy_mae_meV_per_atom": float(np.abs(de).mean() * 1000),
            "energy_rmse_meV_per_atom": float(np.sqrt((de**2).mean()) * 1000),
        }
    return {
        "n_frames": len(frames),
        "n_energy_frames": int(labelled.sum()),
        **energy,
        "force_mae_eV_A": float(np.abs(df).mean()),
        "force_rmse_eV_A": float(np.sqrt((df**2).mean())),
    }


# --- training -------------------------------------------------------------------
def sha256_file(path: Path, length: int = 16) -> str:
    """Hex sha256 of a file's bytes (first ``length`` characters, never a number:
    :func:`~alkali_layers.settings.hex_key`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return hex_key(digest.hexdigest(), length)


def weights_sha256(path: Path, length: int = 16) -> str:
    """Hex sha256 of a SevenNet checkpoint's network weights (name, dtype, shape and
    bytes of each ``model_state_dict`` entry, in order).

    The identity of a fine-tuned network: the ``.pth`` file also holds the time,
    a random run id and the paths of the training files, so two trainings that
    produce the same weights (the same command on one machine does) give
    different file digests but this same one.
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    digest = hashlib.sha256()
    for name, tensor in state["model_state_dict"].items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return hex_key(digest.hexdigest(), length)


def checkpoint_identity(path: Path, meta: dict) -> str:
    """The digest ``meta["checkpoint_sha256"]`` names: of the weights for
    fine-tunes written since 2026-12-02 (``checkpoint_identity = "weights"``), of
    the file's bytes for earlier ones (their task keys stay valid)."""
    if meta.get("checkpoint_identity") == "weights":
        return weights_sha256(path)
    return sha256_file(path)


def sevenn_input(
    settings: FinetuneSettings,
    train_path: Path,
    valid_path: Path,
    train_stress: bool,
    resume_from: Path | None = None,
    weighted: bool = False,
) -> dict:
    """SevenNet's input.yaml as a dict: the model section of the base checkpoint
    (``Checkpoint.yaml_dict("continue")``), the training section of SevenNet's
    fine-tuning preset with ``settings`` applied; ``weighted``: the frames carry
    per-frame loss weights (:func:`energy_weighted`)."""
    import yaml
    from sevenn import __file__ as sevenn_init
    from sevenn.util import load_checkpoint, pretrained_name_to_path

    base = pretrained_name_to_path(settings.base_model)
    with warnings.catch_warnings():
        # the shipped checkpoints predate SevenNet 0.10 and it says their yaml "may
        # be wrong"; only the model section is used, and it builds the network the
        # checkpoint's weights load into (strict architecture keys)
        warnings.filterwarnings("ignore", "checkpoint version too old")
        model = load_checkpoint(base).yaml_dict("continue")["model"]
    preset = Path(sevenn_init).parent / "presets" / "fine_tune.yaml"
    train = yaml.safe_load(preset.read_text())["train"]
    train.update(
        random_seed=settings.seed,
        is_train_stress=train_stress,
        epoch=settings.epochs,
        loss="Huber",
        loss_param={"delta": settings.huber_delta},
        optimizer="adam",
        optim_param={"lr": settings.learning_rate},
        scheduler="exponentiallr",
        scheduler_param={"gamma": settings.lr_decay_per_epoch},
        force_loss_weight=settings.force_loss_weight,
        stress_loss_weight=settings.stress_loss_weight,
        per_epoch=settings.checkpoint_every,
        error_record=[
            ["Energy", "MAE"],
            ["Force", "MAE"],
            ["Energy", "RMSE"],
            ["Force", "RMSE"],
            ["TotalLoss", "None"],
        ],
        best_metric="TotalLoss",
        # per-frame loss weights from atoms.info["data_weight"] (energy_weighted)
        use_weight=weighted,
        # a fresh fine-tune starts from the pretrained weights with a new
        # optimizer; a resumed one continues its own optimizer and epoch count
        **{
            "continue": {
                "checkpoint": str(resume_from or base),
                "reset_optimizer": resume_from is None,
                "reset_scheduler": resume_from is None,
                "reset_epoch": resume_from is None,
            }
        },
    )
    data = {
        "batch_size": settings.batch_size,
        "data_format_args": {"index": ":"},
        "load_trainset_path": [str(train_path)],
        "load_validset_path": [str(valid_path)],
        "preprocess_num_cores": 1,
    }
    return {"model": model, "train": train, "data": data}


def _last_periodic_checkpoint(work: Path) -> Path | None:
    found = []
    for p in work.glob("checkpoint_*.pth"):
        stem = p.stem.split("_", 1)[1]
        if stem.isdigit() and int(stem) > 0:
            found.append((int(stem), p))
    return max(found)[1] if found else None


def run_sevenn(
    work: Path, config: dict, threads: int | None = None
) -> tuple[float, float]:
    """Run ``sevenn train`` on ``config`` in ``work``; (CPU s, wall s) it took."""
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    (work / "input.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from sevenn.main.sevenn import main; sys.exit(main())",
            "train",
            "input.yaml",
            "-w",
            ".",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (work / "sevenn.stdout").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not (work / "checkpoint_best.pth").exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(
            f"sevenn train failed (exit {proc.returncode}); log in {work}:\n{tail}"
        )
    return cpu, wall


def finetune(
    sources,
    out,
    settings: FinetuneSettings | None = None,
    hold_out=(),
    protocol: str | None = None,
    threads: int | None = None,
    test=(),
    forces_from=(),
) -> dict:
    """Fine-tune a pretrained SevenNet model on DFT frames; return the metadata.

    Parameters
    ----------
    sources : iterable of path
        Campaign directories and frame files (see :func:`collect_frames`).
    out : path
        Output directory (see the module notes).  When it already holds a finished
        fine-tune of the same data and settings, that one is returned; a different
        one is never overwritten.
    settings : FinetuneSettings
        Base model and training settings.
    hold_out : iterable of str
        Models held out for validation (see :func:`split_by_model`).  SevenNet
        keeps the checkpoint of the lowest validation loss, so these models take
        part in choosing the model: their errors are slightly optimistic.
    test : iterable of str
        Models (shell patterns) left out of training *and* validation: their
        errors (``errors[...]["test"]``) are the unbiased ones.
    protocol : str, optional
        The DFT protocol to train on when the sources hold several.
    forces_from : iterable of str
        Protocols whose frames train forces only (see :func:`collect_frames`);
        needs ``protocol``.
    threads : int, optional
        CPU threads of the training and of the evaluation.

    Returns
    -------
    dict
        The content of ``finetune.json``; use the model with
        ``MLIPSettings(model=base_model, dispersion=dispersion,
        finetuned="<out>/finetune.json")``.
    """
    settings = settings or FinetuneSettings()
    out = Path(out)
    forces_from = sorted(forces_from)
    frames = collect_frames(sources, protocol, forces_from)
    data_hash = training_data_hash(frames)
    dispersions = sorted({f.info["dispersion"] for f in frames})
    if len(dispersions) > 1:
        raise ValueError(
            f"frames of one protocol with different dispersions {dispersions}"
        )
    test_raw: list[Atoms] = []
    rest = frames
    if test:
        rest, test_raw = split_by_model(frames, test)
    train_raw, valid_raw = split_by_model(rest, hold_out)
    identity = {
        "training_data_hash": data_hash,
        "settings": asdict(settings),
        "held_out_models": sorted({f.info["model"] for f in valid_raw}),
    }
    if test_raw:  # (absent when unused: earlier metadata keeps its identity)
        identity["test_models"] = sorted({f.info["model"] for f in test_raw})
    if forces_from:
        identity["forces_from"] = forces_from
    done = read_json(out / FINETUNE_FILE)
    if done is not None:
        keys = set(identity) | {"test_models", "forces_from"}
        if all(done.get(k) == identity.get(k) for k in keys):
            return done
        raise FileExistsError(
            f"{out / FINETUNE_FILE} holds a fine-tune of other data or settings "
            f"(training data {done.get('training_data_hash')}); finished results "
            "are never overwritten: choose another output directory"
        )
    out.mkdir(parents=True, exist_ok=True)
    train = without_dispersion(train_raw)
    valid = without_dispersion(valid_raw)
    test_set = without_dispersion(test_raw)
    base = _network(settings.base_model, threads)
    offsets = {}
    if settings.align_energies:
        predicted, _ = _predict(base, train)
        offsets = fit_energy_offsets(train, predicted)
        train, valid = shifted(train, offsets), shifted(valid, offsets)
        test_set = shifted(test_set, offsets)
    from ase.io import write

    write(str(out / TRAIN_FILE), train, format="extxyz")
    write(str(out / VALID_FILE), valid, format="extxyz")
    inputs = (out / TRAIN_FILE, out / VALID_FILE)
    weighted = not all(has_energy(f) for f in frames)
    if weighted:
        inputs = (out / WEIGHTED_TRAIN_FILE, out / WEIGHTED_VALID_FILE)
        write(str(inputs[0]), energy_weighted(train, base), format="traj")
        write(str(inputs[1]), energy_weighted(valid, base), format="traj")
    work = out / SEVENN_DIR
    resume = _last_periodic_checkpoint(work) if work.exists() else None
    train_stress = all("stress" in f.calc.results for f in frames)
    config = sevenn_input(
        settings,
        inputs[0].resolve(),
        inputs[1].resolve(),
        train_stress,
        resume,
        weighted=weighted,
    )
    cpu_s, wall_s = run_sevenn(work, config, threads)
    shutil.copyfile(work / "checkpoint_best.pth", out / CHECKPOINT_FILE)
    tuned = _network(str(out / CHECKPOINT_FILE), threads)
    meta = {
        "format": "alkali_layers.finetune/1",
        **identity,
        "base_model": settings.base_model,
        "checkpoint": CHECKPOINT_FILE,
        "checkpoint_sha256": weights_sha256(out / CHECKPOINT_FILE),
        "checkpoint_identity": "weights",
        "protocol": frames[0].info["protocol"],
        "n_energy_frames": {
            "train": sum(map(has_energy, train)),
            "validation": sum(map(has_energy, valid)),
            "test": sum(map(has_energy, test_set)),
        },
        "dispersion": dispersions[0],
        "sources": [str(s) for s in sources],
        "n_frames": {
            "train": len(train),
            "validation": len(valid),
            "test": len(test_set),
        },
        "train_models": sorted({f.info["model"] for f in train}),
        "epochs": settings.epochs,
        "resumed_from": None if resume is None else resume.name,
        "cpu_s": round(cpu_s, 1),
        "wall_s": round(wall_s, 1),
        "energy_offsets_eV": offsets,
        "errors": {
            name: {
                "train": errors(calc, train),
                "validation": errors(calc, valid),
                "test": errors(calc, test_set),
            }
            for name, calc in (("pretrained", base), ("finetuned", tuned))
        },
        "errors_note": "against the labels as trained (dispersion removed, energy "
        "offsets subtracted); energies per atom, forces per Cartesian component",
    }
    for p in work.glob("checkpoint_*.pth"):  # periodic checkpoints: resume only
        if p.name != "checkpoint_best.pth":
            p.unlink()
    write_json_atomic(out / FINETUNE_FILE, meta)
    return meta


def finetuned_checkpoint(settings) -> Path:
    """The checkpoint file of ``settings.finetuned``, checked against its identity.

    Raises ValueError when the file is missing, its sha256 (of the weights, or of
    the file for fine-tunes before 2026-12-02) differs from
    ``settings.checkpoint_sha256`` (the results would not be those of the
    settings hash), or the dispersion differs from the one removed from its labels.
    """
    meta_path = Path(settings.finetuned)
    meta = read_json(meta_path)
    if meta is None:
        raise ValueError(f"{meta_path}: no fine-tune metadata (finetune.json)")
    path = meta_path.parent / meta["checkpoint"]
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint missing (rerun the fine-tune)")
    digest = checkpoint_identity(path, meta)
    if digest != settings.checkpoint_sha256:
        raise ValueError(
            f"{path} has sha256 {digest}, the settings name "
            f"{settings.checkpoint_sha256}: a different checkpoint"
        )
    if meta["dispersion"] != settings.dispersion:
        raise ValueError(
            f"{path} learned DFT without {meta['dispersion']}; set dispersion = "
            f"{meta['dispersion']!r} to add it back"
        )
    return path
