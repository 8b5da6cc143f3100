"""How far the two presets of a staged GPAW relaxation are apart, per model.

A GPAW campaign relaxes at a cheaper preset (``relax``: e.g. 400 eV, k-density
2.5) and evaluates the relaxed geometry at a converged one (``final``: 600 eV,
k-density 5).  The last relaxation step and the final single point are then the
same geometry under two presets, so their difference measures what the cheaper
preset gets wrong: the formation energy per metal atom (models and references both
at the relaxation preset against both at the final one; references use their own,
denser k grids in either preset) and the forces.  This decides which frames a
fine-tune may take its energies from (``alkali_layers.engines.finetune``: energies
of one protocol, forces of another).

Formation energies follow ``docs/science/energies.md``:
``E_f = [E(model) - n_C e_C - n mu_M] / n`` per metal atom, ``e_C`` the energy per
carbon of the relaxed pristine host of the same stacking, ``mu_M`` the energy per
atom of the relaxed bcc metal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engines.finetune import relax_trajectory
from .voltage import formation_energy_eV_per_metal_atom

#: positions of the last relaxation step and of the stored row must agree to this
#: (A) for the two presets to describe one geometry
SAME_GEOMETRY_A = 1e-6


def _last_step(root: Path, row):
    """(energy eV, forces eV/A) of the last relaxation step of a row, or None when
    its trajectory is missing or ends elsewhere than the stored geometry."""
    from ase.io import Trajectory

    path = relax_trajectory(root, row)
    if not path.exists():
        return None
    with Trajectory(str(path)) as traj:
        if len(traj) == 0:
            return None
        atoms = traj[len(traj) - 1]
    stored = row.toatoms()
    if len(atoms) != len(stored) or (
        np.abs(atoms.positions - stored.positions).max() > SAME_GEOMETRY_A
    ):
        return None
    return atoms.get_potential_energy(), atoms.get_forces()


def preset_gap(root) -> list[dict]:
    """Per model of a finished staged GPAW campaign: E_f and forces, two presets.

    Parameters
    ----------
    root : path
        Campaign directory (``results.db`` and ``tasks/*/gpaw-relax.traj``).

    Returns
    -------
    list of dict
        One per model whose last relaxation step is the stored geometry:
        ``label``, ``formation_energy_final_eV``, ``formation_energy_relax_eV``
        (per metal atom), ``delta_meV`` (relax - final, meV per metal atom),
        ``force_mae_eV_A`` and ``force_max_eV_A`` (component differences between
        the presets), ``fmax_final_eV_A`` (largest final-preset force).  Models
        whose references lack a relaxation step are left out.
    """
    import ase.db

    root = Path(root)
    db = ase.db.connect(str(root / "results.db"), use_lock_file=False)
    rows = list(db.select(status="ok", engine="gpaw"))
    steps = {row.id: _last_step(root, row) for row in rows}
    mu: dict[str, tuple[float, float]] = {}
    e_c: dict[str, tuple[float, float]] = {}
    for row in rows:
        step = steps[row.id]
        if row.get("role") != "reference" or step is None:
            continue
        if row.get("host") == "bulk":
            mu[row.metal] = (step[0] / row.natoms, row.energy / row.natoms)
        else:
            n_c = row.get("n_carbon") or row.natoms
            e_c[row.stacking] = (step[0] / n_c, row.energy / n_c)
    out = []
    for row in rows:
        step = steps[row.id]
        if row.get("role") != "model" or step is None or not row.get("n_metal"):
            continue
        metal, stacking = row.metal, row.get("stacking")
        if metal not in mu or stacking not in e_c:
            continue
        n, n_c = row.n_metal, row.n_carbon
        relax, final = (
            formation_energy_eV_per_metal_atom(
                energy, n, n_c * e_c[stacking][i], mu[metal][i]
            )
            for i, energy in enumerate((step[0], row.energy))
        )
        forces = np.asarray(row.data["outcome"]["dft_forces_eV_A"])
        diff = np.abs(step[1] - forces)
        out.append(
            {
                "label": row.label,
                "formation_energy_final_eV": final,
                "formation_energy_relax_eV": relax,
                "delta_meV": 1000 * (relax - final),
                "force_mae_eV_A": float(diff.mean()),
                "force_max_eV_A": float(diff.max()),
                "fmax_final_eV_A": float(np.linalg.norm(forces, axis=1).max()),
            }
        )
    return sorted(out, key=lambda r: r["label"])


def gap_summary(rows: list[dict]) -> dict:
    """Mean, mean absolute and largest (signed) relax - final gap, meV per metal
    atom, over the rows of :func:`preset_gap`."""
    delta = np.array([r["delta_meV"] for r in rows])
    return {
        "mean_meV": float(delta.mean()),
        "mean_abs_meV": float(np.abs(delta).mean()),
        "largest_meV": float(delta[np.argmax(np.abs(delta))]),
    }


def write_preset_gap(rows: list[dict], path, title: str) -> None:
    """Markdown table of :func:`preset_gap` with its mean and largest gap."""
    lines = [
        f"# {title}",
        "",
        "Last relaxation step (relaxation preset) against the final single point "
        "(final preset), same geometry; references likewise "
        "(`alkali_layers.analysis.presets`).",
        "",
        "| model | E_f final (eV/metal) | E_f relax preset | relax - final (meV/metal) "
        "| force diff MAE (eV/A) | max | max force, final (eV/A) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['formation_energy_final_eV']:+.3f} "
            f"| {r['formation_energy_relax_eV']:+.3f} | {r['delta_meV']:+.1f} "
            f"| {r['force_mae_eV_A']:.4f} | {r['force_max_eV_A']:.3f} "
            f"| {r['fmax_final_eV_A']:.3f} |"
        )
    if rows:
        gap = gap_summary(rows)
        lines += [
            "",
            f"{len(rows)} models: relax - final {gap['mean_meV']:+.1f} meV per metal "
            f"atom on average, mean absolute {gap['mean_abs_meV']:.1f}, largest "
            f"{gap['largest_meV']:+.1f}.",
        ]
    Path(path).write_text("\n".join(lines) + "\n")
