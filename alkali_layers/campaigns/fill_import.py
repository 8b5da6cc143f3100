"""Import fillings computed before the campaign system into a campaign's fill tasks.

``runs/hard_carbon/run.py`` (retired) kept each filling as ``results/<job>.json`` +
``.traj`` (:meth:`~alkali_layers.workflows.filling.FillingResult.write`), keyed by
job *name*.  :func:`import_fillings` gives every ``fill`` task of a campaign the
old result that is verifiably the same computation, so hours of finished fillings
are not recomputed, and leaves every other task to run:

1. **same settings**: the old :class:`FillingSettings` (fields added since then
   take their defaults, which reproduce the earlier behaviour) equal the task's,
   metal and host composition equal;
2. **same pore, same engine**: the empty pore of the task, relaxed now with the
   task's engine and fill relaxation settings, matches the old first structure
   (same numbers, tags, cell; positions within ``tol_A``) and its energy
   (within ``tol_eV``); this checks the builder, the engine and the relaxation
   protocol at once, which a structure hash of the (unrecorded) built pore could
   not;
3. **same reference**: mu_M, the bcc metal relaxed now as the task would, equals
   the old ``mu_metal_eV`` within ``tol_mu_eV``;
4. the JSON and its ``.traj`` belong together (one structure per step; the
   recorded sha256 when there is one).

A verified result is written as the task's finished filling (``filling.json`` +
``.traj`` with the task's pore hash and settings, and ``imported.json`` naming the
source file, its sha256 and the checks), then the task folder is run, which reads
it back in seconds and writes ``result.json``.  A task with a finished result is
left alone (results are never overwritten).

Run it as ``alkali-layers import-fillings SPEC --from DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..calculators.references import ReferenceEnergies
from ..calculators.relax import RelaxSettings, relax
from ..jsonio import write_json_atomic
from ..settings import plain, stable_hash, structure_hash
from ..workflows.filling import FillingResult, FillingSettings, host_counts
from .kinds.fill import FILL_RESULT, TASK_KIND_FILL, FillOptions
from .tasks import RESULT_FILE, now, read_json

IMPORTED_FILE = "imported.json"


@dataclass
class ImportReport:
    """What happened to one fill task: ``status`` is "imported", "done" (had a
    result already) or "rerun" (nothing verified; ``reasons`` per candidate)."""

    label: str
    status: str
    source: str = ""
    checks: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def normalized_settings(settings: dict) -> dict:
    """An old settings dict as today's :class:`FillingSettings` would write it
    (fields added since take their defaults)."""
    values = dict(settings)
    values["relax"] = RelaxSettings(**values.get("relax", {}))
    for name in ("kinds", "modes"):
        if name in values:
            values[name] = tuple(values[name])
    return plain(FillingSettings(**values).to_dict())


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def old_fillings(source: Path) -> dict[Path, dict]:
    """Finished filling results (JSON) under ``source``, by path."""
    out = {}
    for path in sorted(Path(source).glob("*.json")):
        if path.name.endswith(".partial.json"):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and {"steps", "settings", "metal"} <= set(data):
            out[path] = data
    return out


class _Verifier:
    """Relaxed empty pores and mu_M, computed once per pore/metal and settings."""

    def __init__(self, calc):
        self.calc = calc
        self.pores: dict[tuple[str, str], object] = {}
        self.metals: dict[tuple[str, str], float] = {}

    def pore(self, pore, settings: RelaxSettings):
        key = (structure_hash(pore), settings.settings_hash())
        if key not in self.pores:
            self.pores[key] = relax(pore, self.calc, settings)
        return self.pores[key]

    def mu(self, metal: str, settings: RelaxSettings) -> float:
        key = (metal, settings.settings_hash())
        if key not in self.metals:
            refs = ReferenceEnergies(self.calc, settings)
            self.metals[key] = refs.metal_eV_per_atom(metal)
        return self.metals[key]


def verify_filling(
    path: Path,
    pore,
    options: FillOptions,
    settings: FillingSettings,
    verifier: _Verifier,
    tol_eV: float = 1e-3,
    tol_A: float = 1e-3,
    tol_mu_eV: float = 1e-4,
) -> tuple[FillingResult, dict]:
    """Check that the old result at ``path`` is this fill task's computation
    (module docstring); return it and the checks, or raise ``ValueError``."""
    data = json.loads(Path(path).read_text())
    if data["metal"] != options.metal:
        raise ValueError(f"metal {data['metal']}, not {options.metal}")
    if stable_hash(normalized_settings(data["settings"])) != stable_hash(
        plain(settings.to_dict())
    ):
        raise ValueError("other FillingSettings")
    if data["host_counts"] != host_counts(pore, options.metal):
        raise ValueError(
            f"host {data['host_counts']}, not {host_counts(pore, options.metal)}"
        )
    result = FillingResult.read(path)  # refuses a torn JSON/.traj pair
    if not result.steps or len(result.structures) != len(result.steps):
        raise ValueError(
            f"{len(result.steps)} steps but {len(result.structures)} structures"
        )
    first = result.structures[0]
    if (
        len(first) != len(pore)
        or not np.array_equal(first.numbers, pore.numbers)
        or not np.array_equal(first.get_tags(), pore.get_tags())
        or not np.allclose(first.cell.array, pore.cell.array, atol=1e-6)
    ):
        raise ValueError("its empty pore has other atoms, tags or cell")
    empty = verifier.pore(pore, settings.relax)
    d_pos = float(np.abs(first.positions - empty.atoms.positions).max())
    d_e = abs(result.steps[0].energy_eV - empty.energy_eV)
    mu = verifier.mu(options.metal, settings.relax)
    d_mu = abs(result.mu_metal_eV - mu)
    checks = {
        "empty_pore_dE_eV": d_e,
        "empty_pore_max_displacement_A": d_pos,
        "mu_metal_dE_eV": d_mu,
        "tolerances": {"eV": tol_eV, "A": tol_A, "mu_eV": tol_mu_eV},
    }
    if d_pos > tol_A or d_e > tol_eV:
        raise ValueError(
            f"the empty pore relaxes differently now (dE = {d_e:.2e} eV, max "
            f"displacement {d_pos:.2e} A)"
        )
    if d_mu > tol_mu_eV:
        raise ValueError(f"mu_{options.metal} differs by {d_mu:.2e} eV/atom")
    return result, checks


def import_fillings(
    campaign, source: Path, calc=None, stream=None
) -> list[ImportReport]:
    """Give each ``fill`` task of ``campaign`` a verified old result from
    ``source`` (module docstring); returns what happened to every fill task."""
    from .worker import run_task_folder

    say = (
        (lambda line: print(line, file=stream, flush=True))
        if stream
        else (lambda line: None)
    )
    source = Path(source)
    old = old_fillings(source)
    campaign.write_task_files()
    reports: list[ImportReport] = []
    verifier = None
    for entry in campaign.entries():
        if entry.task.kind != TASK_KIND_FILL or entry.task.atoms is None:
            continue
        done = read_json(entry.folder / RESULT_FILE)
        if (entry.folder / FILL_RESULT).exists() or (
            done is not None and done.get("status") == "ok"
        ):
            reports.append(ImportReport(entry.label, "done"))
            continue
        if calc is None:
            from .worker import engine_for

            calc = engine_for(entry.engine)
        verifier = verifier or _Verifier(calc)
        pore = entry.task.atoms
        options = FillOptions(**entry.task.options)
        settings = options.filling_settings(pore)
        report = ImportReport(entry.label, "rerun")
        counts = host_counts(pore, options.metal)
        same_system = [
            path
            for path, data in old.items()
            if data["metal"] == options.metal and data.get("host_counts") == counts
        ]
        for path in same_system:
            try:
                result, checks = verify_filling(path, pore, options, settings, verifier)
            except (ValueError, OSError) as err:
                report.reasons.append(f"{path.name}: {err}")
                continue
            result.pore_hash = structure_hash(pore)
            result.settings = plain(settings.to_dict())
            traj = path.with_suffix(".traj")
            imported = {
                "source": str(path),
                "source_sha256": _sha256(path),
                "source_traj_sha256": _sha256(traj) if traj.exists() else None,
                "checks": checks,
                "imported": now(),
                "source_extra": {
                    k: v
                    for k, v in json.loads(path.read_text()).items()
                    if k in ("spec", "engine", "versions", "layers_fit")
                },
            }
            entry.folder.mkdir(parents=True, exist_ok=True)
            write_json_atomic(entry.folder / IMPORTED_FILE, imported)
            result.write(entry.folder / FILL_RESULT)
            run_task_folder(entry.folder, calc=calc)
            report = ImportReport(entry.label, "imported", str(path), checks)
            break
        say(
            f"{entry.label}: {report.status}"
            + (f" from {Path(report.source).name}" if report.source else "")
            + (
                f" (dE {report.checks['empty_pore_dE_eV']:.1e} eV, "
                f"dmu {report.checks['mu_metal_dE_eV']:.1e} eV)"
                if report.checks
                else ""
            )
        )
        reports.append(report)
    campaign.collect()
    return reports


def import_and_report(spec, source) -> int:
    """Import into the campaign ``spec`` from ``source`` and print what happened
    (``alkali-layers import-fillings SPEC --from DIR``); returns the exit code."""
    from .campaign import Campaign

    campaign = Campaign(spec)
    reports = import_fillings(campaign, Path(source), stream=sys.stdout)
    counts = {
        s: sum(r.status == s for r in reports) for s in ("imported", "done", "rerun")
    }
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    for r in reports:
        if r.status == "rerun":
            print(
                f"  {r.label}: no verified result: "
                + ("; ".join(r.reasons) or "no old result of this metal and host")
            )
    return 0


def main(argv=None) -> int:
    """``python -m alkali_layers.campaigns.fill_import SPEC --from DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m alkali_layers.campaigns.fill_import",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", help="campaign.toml or its directory")
    parser.add_argument(
        "--from", dest="source", required=True, help="folder of old <job>.json files"
    )
    args = parser.parse_args(argv)
    return import_and_report(args.spec, args.source)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
