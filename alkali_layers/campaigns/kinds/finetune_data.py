"""Fine-tuning data: the ``rattled_relaxed`` builder and the ``dft_frames`` layout.

A campaign of GPAW single points (``tasks = ["single_point"]``, ``[engine] name =
"gpaw"``) on cells taken from another campaign's database (ML-relaxed models and
references), with the atoms rattled and the layer spacing stretched or compressed,
gives the DFT energies and forces that :mod:`alkali_layers.engines.finetune` trains
on (the single-point kind keeps the forces in the row's data).  Each built cell
carries ``dft_model`` (the label it was taken from) in ``atoms.info``: all the
frames of one source model form one unit of the train/validation split.

The layout ``dft_frames`` writes ``table.md``/``table.csv``: one row per frame with
its source model, size, energy (eV) and largest force (eV/A).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from ...analysis.tables import write_csv, write_markdown
from ...engines.finetune import MODEL_INFO_KEY
from ..registry import register_builder, register_layout
from ..store import ResultStore


def rattled_relaxed(
    campaign: str,
    label: str,
    seed: int = 0,
    amplitude_A: float = 0.05,
    z_strain: float = 0.0,
) -> Atoms:
    """A relaxed cell of ``campaign``, rattled and stretched along the stacking axis.

    Parameters
    ----------
    campaign : str
        Campaign directory (``runs/<study>``, relative to the working directory)
        whose ``results.db`` holds the finished row ``label``.
    label : str
        Task label of the cell (a model or a reference such as ``bulk-Li``).
    seed : int
        Seed of the rattle (``Atoms.rattle``: Gaussian, standard deviation
        ``amplitude_A`` per Cartesian component).
    amplitude_A : float
        Rattle amplitude (A); 0 keeps the relaxed positions.
    z_strain : float
        Relative change of every distance along z about the centre of mass (layer
        spacings and gallery heights scale by ``1 + z_strain``; the cell is kept,
        so a slab's vacuum absorbs it).  Periodic-z cells (bulk metals) are
        scaled with their cell instead.

    Returns
    -------
    ase.Atoms
        With ``info`` = ``dft_model`` (the source label), ``source_campaign``,
        ``seed``, ``amplitude_A``, ``z_strain``.
    """
    db_path = Path(campaign) / "results.db"
    if not db_path.is_file():
        raise ValueError(
            f"{db_path}: no campaign database (run `alkali-layers run {campaign}` "
            "first; paths are relative to the working directory)"
        )
    if amplitude_A < 0 or not -0.3 < z_strain < 0.3:
        raise ValueError("amplitude_A must be >= 0 and |z_strain| < 0.3")
    atoms = ResultStore(db_path).current(label).toatoms()
    atoms.calc = None
    if z_strain:
        if atoms.pbc[2] and len(atoms) == 1:
            cell = atoms.cell.array.copy()
            cell[2] *= 1 + z_strain
            atoms.set_cell(cell, scale_atoms=True)
        else:
            z0 = atoms.get_center_of_mass()[2]
            atoms.positions[:, 2] = z0 + (1 + z_strain) * (atoms.positions[:, 2] - z0)
    if amplitude_A > 0:
        atoms.rattle(amplitude_A, seed=seed)
    atoms.info = {
        MODEL_INFO_KEY: label,
        "source_campaign": str(campaign),
        "seed": int(seed),
        "amplitude_A": float(amplitude_A),
        "z_strain": float(z_strain),
    }
    return atoms


FRAME_COLUMNS = (
    "label",
    MODEL_INFO_KEY,
    "n_atoms",
    "energy_eV",
    "max_force_eV_A",
    "z_strain",
)


def write_frame_outputs(campaign) -> list[dict]:
    """``table.md``/``table.csv`` of the frames (one row per finished task)."""
    rows, failed = campaign.model_rows()
    table = []
    for row in sorted(rows, key=lambda r: r["label"]):
        forces = np.asarray(row["data"].get("dft_forces_eV_A", []), dtype=float)
        table.append(
            {
                **{k: row.get(k) for k in FRAME_COLUMNS},
                "max_force_eV_A": round(float(np.linalg.norm(forces, axis=1).max()), 3)
                if forces.size
                else None,
            }
        )
    root = Path(campaign.root)
    write_csv(table, root / "table.csv", FRAME_COLUMNS)
    notes = [
        f"{campaign.spec.engine.describe()}.  Energies in eV (GPAW + dispersion), "
        "forces in eV/A; train on them with `alkali-layers finetune "
        f"{root}` (see README, 'Fine-tuning the fast engine').",
    ]
    notes += [f"- failed: {label}: {reason}" for label, reason in failed]
    write_markdown(
        table, root / "table.md", campaign.spec.title, notes, columns=FRAME_COLUMNS
    )
    return table


register_builder("rattled_relaxed", rattled_relaxed)
register_layout("dft_frames", write_frame_outputs)
