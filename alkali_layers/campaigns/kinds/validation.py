"""The validation study as campaigns: its task kinds and the ``validation`` layout
(the import of the retired command's checkpoints: :mod:`alkali_layers.campaigns.
validation_import`).

One campaign per (protocol, van der Waals treatment) under ``runs/validation/``
(``original/<treatment>``: c-only cells, Li 1s frozen; ``relaxed_lattice/
<treatment>``: in-plane lattices relaxed, ``li-sc`` setup on the Li groups by
``[models.engine] setups = "li-sc"``).  Physics: :mod:`alkali_layers.workflows.
validation`.

Task kinds (each does its relaxation and the extra calculation inside one task, so
no task depends on another):

* ``cohesive_energy`` (builder ``bulk_metal``): the bcc metal relaxed (volume) by
  the protocol of the ``relax`` kind, then the spin-polarised isolated atom in a
  cubic box of ``atom_box_A`` (:func:`~alkali_layers.engines.gpaw.
  isolated_atom_energy`); ``cohesive_energy_eV = E(atom) - E(bulk)/N`` (positive =
  bound; Kittel table 3.1 for experiment), ``bcc_a_A = (2V/N)^(1/3)``.  GPAW only.
* ``graphite_binding`` (builder ``graphite``, AB): graphite relaxed, then one
  graphene sheet at the relaxed in-plane lattice in a cell ``sheet_cell_c_A``
  high; ``interlayer_binding_meV_per_atom = 1000 [E(sheet)/N - E(graphite)/N]``
  (positive = bound; experiment 44-52 meV/atom).

AA graphite and the stage-1 compounds are ``relax`` tasks.  Both kinds checkpoint
the relaxation in their folder (``relaxed.json``; the GPAW stage also resumes from
``gpaw-relax.traj``), so a killed task resumes after it.

GPAW protocol of the validation: ``[engine] final = relax = "final"`` and
``prerelax = "none"`` (one setting relaxes and gives the energy, no ML stage), as
the pre-campaign ``alkali-layers validate`` computed.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ...elements import METALS, PUBLISHED_FORMATION_EV
from ...engines.settings import energy_settings
from ...jsonio import write_json_atomic
from ...workflows.validation import (
    ATOM_BOX_A,
    COMPOUNDS,
    SHEET_CELL_C_A,
    TREATMENTS,
    bcc_lattice_constant_A,
    compound_in_plane_a_A,
    graphene_sheet,
    interlayer_spacing_A,
    treatment_name,
)
from ..registry import TaskKind, register_layout, register_task_kind
from ..tasks import (
    TaskOutcome,
    now,
    outcome_to_result,
    read_json,
    result_outcome,
)
from .relax import run_relax

TASK_KIND_COHESIVE = "cohesive_energy"
TASK_KIND_GRAPHITE_BINDING = "graphite_binding"
VALIDATION_LAYOUT = "validation"
#: layout of a validation campaign's error-bar campaign (a folder below it)
ERROR_BARS_LAYOUT = "validation_error_bars"
#: the relaxation stage of a validation task, read back by a rerun
RELAXED_FILE = "relaxed.json"


@dataclass(frozen=True)
class CohesiveOptions:
    """Options of a ``cohesive_energy`` task.

    Attributes
    ----------
    atom_box_A : float
        Edge of the cubic box of the isolated atom (A); 14 A is the box of the
        committed validation.
    """

    atom_box_A: float = ATOM_BOX_A

    def __post_init__(self) -> None:
        if not (isinstance(self.atom_box_A, (int, float)) and self.atom_box_A >= 8):
            raise ValueError(f"atom_box_A must be >= 8 A, got {self.atom_box_A!r}")


@dataclass(frozen=True)
class GraphiteBindingOptions:
    """Options of a ``graphite_binding`` task.

    Attributes
    ----------
    sheet_cell_c_A : float
        Height of the cell of the graphene sheet (A; vacuum along z).
    """

    sheet_cell_c_A: float = SHEET_CELL_C_A

    def __post_init__(self) -> None:
        c = self.sheet_cell_c_A
        if not (isinstance(c, (int, float)) and c >= 10):
            raise ValueError(f"sheet_cell_c_A must be >= 10 A, got {c!r}")


def _is_gpaw(engine) -> bool:
    return engine is not None and getattr(engine, "engine", "") == "gpaw"


def _relaxed(task, engine, calc, settings, folder) -> TaskOutcome:
    """The relaxation of the ``relax`` kind (staged GPAW protocol, or ML), read
    back from ``folder/relaxed.json`` when an earlier run of the same structure and
    settings finished it."""
    from ase.parallel import world

    from ...settings import stable_hash, structure_hash

    identity = stable_hash(
        {
            "structure": structure_hash(task.atoms),
            "engine": engine.settings_hash() if engine is not None else "",
            "relax": settings.settings_hash(),
        }
    )
    path = Path(folder) / RELAXED_FILE if folder is not None else None
    stored = read_json(path) if path is not None else None
    if stored is not None and stored.get("identity") == identity:
        return result_outcome(stored["result"])
    outcome = run_relax(task, engine, calc, settings, folder)
    if path is not None and world.rank == 0:
        result = outcome_to_result(outcome, identity, engine, settings, now())
        write_json_atomic(path, {"identity": identity, "result": result})
    return outcome


def run_cohesive_energy(task, engine, calc, settings, folder) -> TaskOutcome:
    """Relaxed bcc metal + isolated atom: cohesive energy and lattice constant
    (module docstring)."""
    if not _is_gpaw(engine):
        raise ValueError(
            "cohesive_energy needs the GPAW engine ([engine] name = 'gpaw'): the "
            "isolated atom is a spin-polarised DFT calculation"
        )
    if task.atoms.info.get("host") != "bulk":
        raise ValueError("cohesive_energy needs builder = 'bulk_metal'")
    from ...engines.gpaw import isolated_atom_energy

    options = CohesiveOptions(**task.options)
    metal = task.atoms.info["metal"]
    outcome = _relaxed(task, engine, calc, settings, folder)
    txt = str(Path(folder) / "gpaw-atom.txt") if folder is not None else None
    e_atom = isolated_atom_energy(
        metal, engine.final, txt=txt, box_A=options.atom_box_A
    )
    outcome.values.update(cohesive_values(outcome.atoms, outcome.energy_eV, e_atom))
    return outcome


def cohesive_values(relaxed: Atoms, energy_eV: float, atom_energy_eV: float) -> dict:
    """Database columns of a ``cohesive_energy`` result."""
    per_atom = energy_eV / len(relaxed)
    return {
        "bcc_a_A": bcc_lattice_constant_A(relaxed),
        "energy_per_atom_eV": per_atom,
        "atom_energy_eV": atom_energy_eV,
        "cohesive_energy_eV": atom_energy_eV - per_atom,
    }


def run_graphite_binding(task, engine, calc, settings, folder) -> TaskOutcome:
    """Relaxed graphite + graphene sheet at its in-plane lattice: interlayer
    binding energy (module docstring).  GPAW, or the ML engine."""
    if task.atoms.info.get("host") != "graphite" or set(
        task.atoms.get_chemical_symbols()
    ) != {"C"}:
        raise ValueError("graphite_binding needs builder = 'graphite'")
    options = GraphiteBindingOptions(**task.options)
    outcome = _relaxed(task, engine, calc, settings, folder)
    sheet = graphene_sheet(
        float(np.linalg.norm(outcome.atoms.cell[0])), options.sheet_cell_c_A
    )
    if _is_gpaw(engine):
        from ...calculators.staged import dft_single_point

        txt = str(Path(folder) / "gpaw-sheet.txt") if folder is not None else None
        sheet_energy = dft_single_point(sheet, engine.final, txt=txt)[0]
    else:
        sheet.calc = calc
        sheet_energy = float(sheet.get_potential_energy())
    outcome.values.update(
        binding_values(outcome.atoms, outcome.energy_eV, sheet_energy / len(sheet))
    )
    return outcome


def binding_values(relaxed: Atoms, energy_eV: float, sheet_eV_per_C: float) -> dict:
    """Database columns of a ``graphite_binding`` result."""
    per_c = energy_eV / len(relaxed)
    return {
        "interlayer_spacing_A": interlayer_spacing_A(relaxed),
        "in_plane_a_A": float(np.linalg.norm(relaxed.cell[0])),
        "energy_per_C_eV": per_c,
        "sheet_energy_per_C_eV": sheet_eV_per_C,
        "interlayer_binding_meV_per_atom": 1000.0 * (sheet_eV_per_C - per_c),
    }


def protocol_of(spec) -> dict:
    """The validation protocol of a spec: ``layered_cell`` ("ac" where a graphite
    or compound group relaxes the in-plane lattice) and ``li_semicore`` (a group
    uses the ``li-sc`` setup)."""
    modes = [
        spec.relax_of(g).layered_cell
        for g in spec.models
        if g.builder in ("graphite", "graphite_intercalation")
    ]
    return {
        "layered_cell": "ac" if "ac" in modes else spec.relax.layered_cell,
        "li_semicore": any(
            getattr(energy_settings(g.engine), "setups", "") == "li-sc"
            for g in spec.models
        ),
    }


# --- the layout ---------------------------------------------------------------
def _finished(campaign):
    """(entry, database row) of every finished model task."""
    for e in campaign.entries():
        if e.task.role != "model":
            continue
        row = campaign.store.find(e.key)
        if row is not None and row.get("status") == "ok":
            yield e, row


def treatment_results(campaign) -> dict:
    """One treatment's validation numbers from ``campaign``'s database, in the
    format of the retired ``results.json`` (the input of
    :func:`~alkali_layers.analysis.validation.write_validation_table`).

    Formation energies per metal atom ``E_f = [E - n_C e_C(host) - n mu_M] / n``
    vs the relaxed bcc metal (``mu_M`` = its energy per atom) and AB graphite
    (the experimental ground state; the published values' reference) or AA
    graphite (the compounds' stacking).
    """
    from ...analysis.voltage import formation_energy_eV_per_metal_atom

    final = energy_settings(campaign.spec.engine)
    out: dict = {
        "treatment": treatment_name(final),
        "settings": asdict(final),
        "protocol": protocol_of(campaign.spec),
        "metals": {},
        "compounds": {},
    }
    mu, host, compounds = {}, {}, []
    for e, row in _finished(campaign):
        atoms, energy = row.toatoms(), float(row.energy)
        info = e.task.atoms.info
        if e.task.kind == TASK_KIND_COHESIVE:
            metal = info["metal"]
            mu[metal] = row["energy_per_atom_eV"]
            out["metals"][metal] = {
                "a_A": row["bcc_a_A"],
                "a_exp_A": METALS[metal].bcc_a_A,
                "cohesive_eV": row["cohesive_energy_eV"],
                "cohesive_exp_eV": METALS[metal].cohesive_energy_exp_eV,
                "energy_eV": energy,
                "converged": bool(row.get("converged")),
            }
        elif e.task.kind == TASK_KIND_GRAPHITE_BINDING:
            host["AB"] = row["energy_per_C_eV"]
            out["graphite_AB"] = {
                "spacing_A": row["interlayer_spacing_A"],
                "a_A": row["in_plane_a_A"],
                "energy_eV_per_C": row["energy_per_C_eV"],
                "binding_meV_per_atom": row["interlayer_binding_meV_per_atom"],
                "converged": bool(row.get("converged")),
            }
        elif info.get("host") == "graphite" and not info.get("metal"):
            stacking = info["stacking"]
            host.setdefault(stacking, energy / len(atoms))
            out.setdefault(
                f"graphite_{stacking}",
                {
                    "spacing_A": interlayer_spacing_A(atoms),
                    "a_A": float(np.linalg.norm(atoms.cell[0])),
                    "energy_eV_per_C": energy / len(atoms),
                    "converged": bool(row.get("converged")),
                },
            )
        elif info.get("stoichiometry"):
            compounds.append((e, atoms, energy, bool(row.get("converged"))))
    order = [formula for _, formula in COMPOUNDS]
    compounds.sort(
        key=lambda c: (
            order.index(c[0].task.atoms.info["stoichiometry"])
            if c[0].task.atoms.info["stoichiometry"] in order
            else len(order)
        )
    )
    for e, atoms, energy, converged in compounds:
        info = e.task.atoms.info
        formula, metal = info["stoichiometry"], info["metal"]
        symbols = atoms.get_chemical_symbols()
        n_metal, n_c = symbols.count(metal), symbols.count("C")
        ef = {}
        for stacking in ("AB", "AA"):
            if metal in mu and stacking in host:
                ef[stacking] = formation_energy_eV_per_metal_atom(
                    energy, n_metal, n_c * host[stacking], mu[metal]
                )
        out["compounds"][formula] = {
            "c_A": float(atoms.cell[2, 2]),
            "a_A": compound_in_plane_a_A(atoms, e.task.atoms),
            "formation_vs_AB_eV": ef.get("AB"),
            "formation_vs_AA_eV": ef.get("AA"),
            "published_eV": PUBLISHED_FORMATION_EV.get(formula),
            "energy_eV": energy,
            "n_C": n_c,
            "converged": converged,
        }
    return out


def stage1_error_bars(rows) -> dict:
    """BEEF-vdW error bars of the stage-1 formation energies.

    Parameters
    ----------
    rows : iterable of (dict, Atoms, float, numpy.ndarray)
        ``(info, atoms, energy_eV, ensemble_eV)`` of every structure: builder
        metadata (``host`` "bulk" with ``metal``; ``host`` "graphite" with
        ``stacking``; a compound with ``stoichiometry`` and ``metal``), the
        structure, its total energy (the treatment's) and the 2000 BEEF-vdW
        ensemble total energies at the same geometry (eV).

    Returns
    -------
    dict
        By formula: ``formation_vs_AB_eV`` / ``formation_vs_AA_eV`` (eV per metal
        atom, ``E_f = [E - n_C e_C - n mu_M] / n`` vs the bcc metal and AB or AA
        graphite, from ``energy_eV``) and ``formation_vs_AB_std_eV`` /
        ``formation_vs_AA_std_eV``: the standard deviation over the ensemble of
        the same formula with every member's energies (Wellendorff et al., PRB
        85, 235149 (2012)), where the references carry ensembles.
    """
    from ...analysis.voltage import formation_energy_eV_per_metal_atom

    per_unit, ensembles, compounds = {}, {}, []
    for info, atoms, energy, ensemble in rows:
        ensemble = np.asarray(ensemble, float)
        if info.get("stoichiometry"):
            compounds.append((info, atoms, energy, ensemble))
            continue
        if info.get("host") == "bulk":
            key, n_units = ("metal", info["metal"]), len(atoms)
        elif info.get("host") == "graphite":
            key = ("graphite", info["stacking"])
            n_units = atoms.get_chemical_symbols().count("C")
        else:
            continue
        per_unit[key] = energy / n_units
        ensembles[key] = ensemble / n_units
    out: dict = {}
    for info, atoms, energy, ensemble in compounds:
        symbols = atoms.get_chemical_symbols()
        n_metal, n_c = symbols.count(info["metal"]), symbols.count("C")
        values = {}
        for stacking in ("AB", "AA"):
            metal, host = ("metal", info["metal"]), ("graphite", stacking)
            if metal not in per_unit or host not in per_unit:
                continue
            values[f"formation_vs_{stacking}_eV"] = formation_energy_eV_per_metal_atom(
                energy, n_metal, n_c * per_unit[host], per_unit[metal]
            )
            members = formation_energy_eV_per_metal_atom(
                ensemble, n_metal, n_c * ensembles[host], ensembles[metal]
            )
            values[f"formation_vs_{stacking}_std_eV"] = float(np.std(members))
        out[info["stoichiometry"]] = values
    return out


def error_bar_results(campaign) -> dict:
    """:func:`stage1_error_bars` of an error-bar campaign: ``single_point`` tasks
    with ``[engine] error_bars = true`` on the relaxed structures of a validation
    campaign (builder ``campaign_model``), read from its database."""
    rows = []
    for e, row in _finished(campaign):
        ensemble = row.data.get("outcome", {}).get("beef_ensemble_eV")
        if ensemble is not None:
            rows.append((e.task.atoms.info, row.toatoms(), float(row.energy), ensemble))
    return stage1_error_bars(rows)


def _layout_of(spec_path: Path) -> str | None:
    """The ``analysis`` layout named by the campaign spec at ``spec_path``."""
    return tomllib.loads(spec_path.read_text()).get("analysis")


def _campaign_like(campaign, spec_path: Path):
    """The campaign of ``spec_path`` (``campaign`` itself when it is that one),
    made as ``campaign`` was (no import cycle) and read as it is (serially on rank
    0 under MPI, see
    :func:`alkali_layers.campaigns.validation_import.run_validation_campaigns`)."""
    if spec_path.parent.resolve() == campaign.root.resolve():
        return campaign
    other = type(campaign)(spec_path, stream=False)
    other.store.db.serial = getattr(campaign.store.db, "serial", False)
    return other


def _campaigns_below(campaign, layout: str) -> list:
    """The campaigns of ``layout`` in the folders directly below ``campaign``'s."""
    paths = sorted(campaign.root.glob(f"*/{campaign.spec.path.name}"))
    return [_campaign_like(campaign, p) for p in paths if _layout_of(p) == layout]


def add_error_bars(results: dict, campaign) -> None:
    """Put the ``*_std_eV`` of the error-bar campaigns below ``campaign`` (layout
    ``validation_error_bars``) into ``results["compounds"]`` (in place), with the
    error-bar campaign's folder in ``results["error_bars"]``."""
    for child in _campaigns_below(campaign, ERROR_BARS_LAYOUT):
        bars = error_bar_results(child)
        for formula, values in results["compounds"].items():
            for stacking in ("AB", "AA"):
                std = bars.get(formula, {}).get(f"formation_vs_{stacking}_std_eV")
                if std is not None:
                    values[f"formation_vs_{stacking}_std_eV"] = std
        results["error_bars"] = str(child.root)


def write_error_bar_outputs(campaign) -> list[dict]:
    """The ``validation_error_bars`` layout: ``table.md`` and ``results.json`` of
    the BEEF-vdW error bars here, then the tables of the validation campaign in
    the folder above (which carry them next to its formation energies)."""
    from ...analysis.tables import write_markdown

    bars = error_bar_results(campaign)
    rows = [{"compound": formula, **values} for formula, values in bars.items()]
    (campaign.root / "results.json").write_text(json.dumps(bars, indent=1) + "\n")
    columns = [
        "compound",
        "formation_vs_AB_eV",
        "formation_vs_AB_std_eV",
        "formation_vs_AA_eV",
        "formation_vs_AA_std_eV",
    ]
    note = (
        "Formation energies in eV per metal atom vs the bcc metal and AB or AA "
        "graphite, from the single points here (the treatment's energies at the "
        "relaxed geometries of the validation campaign above); *_std_eV: standard "
        "deviation over the 2000-member BEEF-vdW ensemble (ase.dft.bee; "
        "Wellendorff et al., PRB 85, 235149 (2012)) of one BEEF-vdW calculation "
        "per structure at the same geometry: the sensitivity to the "
        "exchange-correlation functional, not a statistical error."
    )
    pending = _pending_note(campaign)
    write_markdown(
        rows,
        campaign.root / "table.md",
        campaign.spec.title or campaign.spec.name,
        notes=[note] + ([pending] if pending else []),
        columns=columns,
    )
    parent = campaign.root.parent / campaign.spec.path.name
    if parent.exists() and _layout_of(parent) == VALIDATION_LAYOUT:
        write_validation_outputs(_campaign_like(campaign, parent))
    return rows


def _pending_note(campaign) -> str:
    pending = [
        s.entry.label for s in campaign.status() if s.state not in ("done", "failed")
    ]
    failed = [s.entry.label for s in campaign.status() if s.state == "failed"]
    parts = []
    if pending:
        parts.append(f"not finished yet: {', '.join(pending)}")
    if failed:
        parts.append(f"failed: {', '.join(failed)}")
    name = treatment_name(energy_settings(campaign.spec.engine))
    return f"{name} ({campaign.root}): {'; '.join(parts)}." if parts else ""


def _sorted_by_treatment(results: dict) -> dict:
    order = list(TREATMENTS)
    return dict(
        sorted(
            results.items(),
            key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order),
        )
    )


def write_validation_outputs(campaign) -> list[dict]:
    """The ``validation`` layout: ``table.md`` and ``results.json`` of this
    campaign's treatment in its folder, and, when the folder above holds no
    campaign of its own and two or more ``validation`` campaigns, their treatments
    side by side (``../table.md``, ``../results.json``: one protocol, all
    treatments)."""
    from ...analysis.validation import write_validation_table

    results = treatment_results(campaign)
    add_error_bars(results, campaign)
    name = results["treatment"]
    note = _pending_note(campaign)
    mine = {name: results}
    write_validation_table(mine, campaign.root / "table.md", [note] if note else [])
    (campaign.root / "results.json").write_text(json.dumps(mine, indent=1) + "\n")
    parent = campaign.root.parent
    spec_file = campaign.spec.path.name
    siblings = [
        path
        for path in sorted(parent.glob(f"*/{spec_file}"))
        if _layout_of(path) == VALIDATION_LAYOUT
    ]
    if len(siblings) > 1 and not (parent / spec_file).exists():
        combined, notes = {}, []
        for path in siblings:
            other = _campaign_like(campaign, path)
            if other is campaign:
                res = results
            else:
                res = treatment_results(other)
                add_error_bars(res, other)
            combined[res["treatment"]] = res
            other_note = note if other is campaign else _pending_note(other)
            if other_note:
                notes.append(other_note)
        combined = _sorted_by_treatment(combined)
        write_validation_table(combined, parent / "table.md", notes)
        (parent / "results.json").write_text(json.dumps(combined, indent=1) + "\n")
    rows = [{"treatment": name, "metal": m, **v} for m, v in results["metals"].items()]
    rows += [
        {"treatment": name, "compound": f, **v} for f, v in results["compounds"].items()
    ]
    return rows


register_task_kind(
    TaskKind(
        TASK_KIND_COHESIVE,
        "bcc metal relaxed + isolated spin-polarised atom: cohesive energy (GPAW)",
        run_cohesive_energy,
        options=CohesiveOptions,
    )
)
register_task_kind(
    TaskKind(
        TASK_KIND_GRAPHITE_BINDING,
        "graphite relaxed + graphene sheet at its in-plane lattice: interlayer "
        "binding energy",
        run_graphite_binding,
        options=GraphiteBindingOptions,
    )
)
register_layout(VALIDATION_LAYOUT, write_validation_outputs)
register_layout(ERROR_BARS_LAYOUT, write_error_bar_outputs)
