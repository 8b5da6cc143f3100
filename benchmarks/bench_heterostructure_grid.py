"""Benchmark: the graphene/metal/MoS2 fast-engine grid (issue 18), side by side.

Three parts, in one process with one torch thread:

1. **Protocols, side by side.**  A few small models of ``runs/graphene_mos2`` are
   relaxed as the campaign relaxes them (``RelaxSettings(fmax 0.02 eV/A, 250
   steps)``: a rigid gallery pre-scan, then BFGS from the pre-scanned geometry) and
   from the raw builder geometry without the pre-scan (``gallery_prescan=False``),
   alternately (the order flips from one model to the next, so a change of the
   shared machine's load hits both alike).  Reported: force calls (every call of
   the calculator, pre-scan points included), BFGS steps, wall time, the energy
   and, where the model's empty heterostructure is in the set, the intercalation
   energy per metal atom against each protocol's own empty cell.
2. **Cost of one force call vs cell size**: single points (7net-0 and D3 also timed
   alone) on the models and on the smallest K, Cs and bcc cells, fitted to
   ``t = a + b N``.
3. **Extrapolated full grid** (5 metals x 0-4 layers x fcc/hcp/bcc x 2H/1T' plus the
   one-layer concentration series, each metal and packing in its smallest cell
   with metal strain <= ``--max-strain``): sum over models of (force calls per
   model, measured in part 1 per protocol) x (cost per call at its atom count,
   part 2), divided by the number of workers.  **An extrapolation** from small
   models under the load measured while it ran, not a run of the grid.

    .venv/bin/python benchmarks/bench_heterostructure_grid.py            # ~35 min
    .venv/bin/python benchmarks/bench_heterostructure_grid.py --quick    # 2 models

``--campaign runs/graphene_mos2`` instead reports the grid **as the campaign ran
it** (no force calls here): per finished heterostructure its BFGS steps, pre-scan
points (from the task folder's ``result.json``, where it is still there) and wall
time, grouped by cell size, and the idle-machine time of the whole grid from those
force calls times the CPU cost per call measured in part 2 (read from the committed
``heterostructure_grid.json``); writes ``results/heterostructure_grid_campaign.md``.

Writes ``benchmarks/results/heterostructure_grid.{json,md}`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

from bench_optimizer import CallCounter, clean, machine, run_one  # noqa: E402
from bench_scaling import component_seconds  # noqa: E402

from alkali_layers.analysis.heterostructure import (  # noqa: E402
    intercalation_energy_eV_per_metal,
)
from alkali_layers.builders.layers import bulk_metal  # noqa: E402
from alkali_layers.builders.mos2 import graphene_mos2  # noqa: E402
from alkali_layers.calculators.relax import RelaxSettings, relax  # noqa: E402
from alkali_layers.elements import METALS  # noqa: E402
from alkali_layers.engines import make_calculator  # noqa: E402

HERE = Path(__file__).resolve().parent
#: the relaxation of runs/graphene_mos2/campaign.toml
CAMPAIGN_RELAX = RelaxSettings(fmax_eV_A=0.02, max_steps=250)
PROTOCOLS = {
    "campaign": CAMPAIGN_RELAX,
    "raw": replace(CAMPAIGN_RELAX, gallery_prescan=False),
}
#: label -> builder keywords; the Na empty cells make intercalation energies
#: and Li 1 layer 1T' is the kind of model that cost most in the campaign
DEFAULT_MODELS = {
    "Na-0L-2H": dict(metal="Na", n_layers=0, phase="2H"),
    "Na-1L-2H": dict(metal="Na", n_layers=1, phase="2H"),
    "Na-2L-2H": dict(metal="Na", n_layers=2, phase="2H"),
    "Li-1L-1Tp": dict(metal="Li", n_layers=1, phase="1Tp", max_strain=0.05),
}
QUICK_MODELS = ("Na-0L-2H", "Na-1L-2H")
#: larger cells timed by single points only (smallest cells within 8 % metal strain)
PROBE_CELLS = {
    "Cs-1L-fcc (12 Mo)": dict(metal="Cs", n_layers=1, max_strain=0.08),
    "K-1L-fcc (14 Mo)": dict(metal="K", n_layers=1, max_strain=0.08),
    "Rb-1L-bcc (20 Mo)": dict(metal="Rb", n_layers=1, packing="bcc", max_strain=0.08),
}
STRAINS = (0.03, 0.05, 0.08)
PACKINGS = ("fcc", "hcp", "bcc")


def cell_summary(metal: str, packing: str, max_strain: float) -> dict:
    """Atoms and strains of the smallest cell ``graphene_mos2`` finds, or the
    builder's message when none fits."""
    try:
        one = graphene_mos2(metal, 1, packing, max_strain=max_strain)
    except ValueError as err:
        return {"error": str(err)}
    info = one.info
    return {
        "n_Mo": info["n_Mo"],
        "n_carbon": info["n_carbon"],
        "per_plane": info["full_layer_atoms"],
        "atoms_empty": len(one) - info["full_layer_atoms"],
        "atoms_1L": len(one),
        "atoms_2L": len(one) + info["full_layer_atoms"],
        "metal_principal_strains_pct": info["metal_principal_strains_pct"],
        "graphene_principal_strains_pct": info["graphene_principal_strains_pct"],
        "mos2_principal_strains_pct": info["mos2_principal_strains_pct"],
    }


def grid_models(cells: dict) -> list[dict]:
    """The issue's grid on the given cells: per metal and packing the empty cell
    (fcc and hcp share it) and 1-4 full layers (hcp only from 3 layers: 1-2 hcp
    planes are the fcc ones), the fcc concentration series 1 .. per_plane - 1
    atoms in one layer; each in 2H and 1T'."""
    out = []
    for metal in METALS:
        for packing in PACKINGS:
            cell = cells[metal][packing]
            if "error" in cell:
                continue
            per, empty = cell["per_plane"], cell["atoms_empty"]
            layers = (3, 4) if packing == "hcp" else (0, 1, 2, 3, 4)
            counts = [empty + n * per for n in layers]
            if packing == "fcc":
                counts += [empty + k for k in range(1, per)]
            for n_atoms in counts:
                for phase in ("2H", "1Tp"):
                    out.append(
                        {
                            "metal": metal,
                            "packing": packing,
                            "phase": phase,
                            "atoms": n_atoms,
                        }
                    )
    return out


def time_force_calls(atoms, calc, repeats: int = 3) -> dict:
    """Median wall time (s) of ``repeats`` force calls on slightly rattled copies
    (each a new geometry, so nothing is cached), the CPU time of this process
    per call (what the call costs on a free core) and the parts timed alone."""
    rng = np.random.default_rng(0)
    times, cpu = [], []
    for _ in range(repeats):
        probe = atoms.copy()
        probe.positions += rng.normal(scale=0.01, size=probe.positions.shape)
        probe.calc = calc
        t, c = time.perf_counter(), time.process_time()
        probe.get_forces()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    parts = component_seconds(atoms, calc)
    return {
        "atoms": len(atoms),
        "call_s": round(statistics.median(times), 4),
        "cpu_s": round(statistics.median(cpu), 4),
        "parts_s": {k: round(v, 4) for k, v in parts.items()},
    }


def campaign_cost(campaign: Path, fit_cpu: dict, workers: int) -> dict:
    """Force calls and wall time of the finished heterostructure models of a
    campaign (the database row of each task of today's spec, not rows that a rerun
    superseded; pre-scan points from the task folders' result.json, else the mean
    of those found) and the idle-machine grid time they imply: sum of calls x
    (intercept + per_atom x atoms) of the CPU-time fit, / workers."""
    from alkali_layers.campaigns.campaign import Campaign

    prescan = {}
    for path in (campaign / "tasks").glob("*/result.json"):
        data = json.loads(path.read_text())
        if data.get("status") == "ok":
            prescan[data["key"]] = int(data.get("prescan_evaluations", 0))
    models = []
    study = Campaign(campaign, stream=False)
    for entry in study.entries():
        row = study.store.find(entry.key)
        if row is None or row.get("status") != "ok":
            continue
        if row.get("host") != "graphene_mos2":
            continue
        models.append(
            {
                "label": row.label,
                "atoms": row.natoms,
                "steps": int(row.n_steps),
                "prescan": prescan.get(row.task_key),
                "wall_s": float(row.wall_s),
                "converged": bool(row.converged),
            }
        )
    known = [m["prescan"] for m in models if m["prescan"] is not None]
    mean_prescan = float(np.mean(known)) if known else 0.0
    for m in models:
        pre = m["prescan"] if m["prescan"] is not None else mean_prescan
        m["force_calls"] = m["steps"] + 1 + pre
        m["cpu_idle_s"] = m["force_calls"] * (
            fit_cpu["intercept"] + fit_cpu["per_atom"] * m["atoms"]
        )
    classes = {}
    for lo, hi in ((0, 50), (50, 100), (100, 200)):
        group = [m for m in models if lo <= m["atoms"] < hi]
        if group:
            classes[f"{lo}-{hi - 1} atoms"] = {
                "models": len(group),
                "steps_mean": round(float(np.mean([m["steps"] for m in group])), 1),
                "steps_max": max(m["steps"] for m in group),
                "cpu_idle_h": round(sum(m["cpu_idle_s"] for m in group) / 3600, 2),
                "wall_h_measured": round(sum(m["wall_s"] for m in group) / 3600, 2),
            }
    total_cpu = sum(m["cpu_idle_s"] for m in models)
    return {
        "campaign": str(campaign),
        "models": len(models),
        "not_converged": [m["label"] for m in models if not m["converged"]],
        "prescan_known": len(known),
        "prescan_mean": round(mean_prescan, 1),
        "force_calls": round(sum(m["force_calls"] for m in models)),
        "atoms": sum(m["atoms"] for m in models),
        "fit_cpu_s": fit_cpu,
        "workers": workers,
        "cpu_idle_h": round(total_cpu / 3600, 2),
        "wall_h_idle_with_workers": round(total_cpu / workers / 3600, 2),
        "wall_h_measured_sum": round(sum(m["wall_s"] for m in models) / 3600, 2),
        "by_size": classes,
    }


def write_campaign_cost(cost: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(cost, indent=1) + "\n")
    fit = cost["fit_cpu_s"]
    lines = [
        "# Graphene/metal/MoS2 fast-engine grid as the campaign ran it",
        "",
        f"`{cost['campaign']}`: {cost['models']} finished heterostructures "
        f"({cost['atoms']} atoms), {cost['force_calls']} force calls (BFGS steps + 1 "
        f"+ pre-scan points; pre-scan known for {cost['prescan_known']} models, mean "
        f"{cost['prescan_mean']}, used for the rest). Idle-machine time: calls x "
        f"({fit['intercept']} + {fit['per_atom']} x atoms) s of CPU per call (the "
        "fit of `heterostructure_grid.md`, part 2), "
        f"{cost['workers']} workers: **{cost['wall_h_idle_with_workers']} h** "
        f"({cost['cpu_idle_h']} h CPU). Sum of the measured wall times (shared, "
        f"loaded machine): {cost['wall_h_measured_sum']} h.",
        "",
        "| cell size | models | BFGS steps, mean / max | idle CPU (h) | measured "
        "wall, summed (h) |",
        "|---|---|---|---|---|",
    ]
    for size, c in cost["by_size"].items():
        lines.append(
            f"| {size} | {c['models']} | {c['steps_mean']} / {c['steps_max']} | "
            f"{c['cpu_idle_h']} | {c['wall_h_measured']} |"
        )
    if cost["not_converged"]:
        lines += ["", "Not converged: " + ", ".join(cost["not_converged"])]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 models, no probes")
    parser.add_argument(
        "--max-strain",
        type=float,
        default=0.08,
        help="metal strain bound of the extrapolated grid's cells",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--strain-table",
        action="store_true",
        help=f"also the smallest cells at max_strain {STRAINS} (slow searches)",
    )
    parser.add_argument("--out", default=str(HERE / "results" / "heterostructure_grid"))
    parser.add_argument(
        "--campaign",
        help="report the grid as this campaign ran it (no force calls; see above)",
    )
    args = parser.parse_args(argv)
    if args.campaign:
        measured = json.loads(
            (HERE / "results" / "heterostructure_grid.json").read_text()
        )
        cost = campaign_cost(
            Path(args.campaign),
            measured["force_call_cost"]["fit_s"]["cpu_s"],
            args.workers,
        )
        write_campaign_cost(cost, HERE / "results" / "heterostructure_grid_campaign")
        return 0
    labels = QUICK_MODELS if args.quick else tuple(DEFAULT_MODELS)
    calc = make_calculator("mlip", threads=1)
    counter = CallCounter(calc)
    load = [os.getloadavg()[0]]
    t_start = time.perf_counter()

    # part 0: the cells (the lattice search only, no force calls)
    t = time.perf_counter()
    cells = {
        m: {p: cell_summary(m, p, args.max_strain) for p in PACKINGS} for m in METALS
    }
    strains = {
        f"{m}-{p}-{s}": cell_summary(m, p, s)
        for m in METALS
        for p in ("fcc", "bcc")
        for s in (STRAINS if args.strain_table else ())
        if s != args.max_strain
    }
    search_s = time.perf_counter() - t
    print(f"lattice searches: {search_s:.1f} s", flush=True)

    # part 1: protocols side by side
    bulk = relax(bulk_metal("Na"), calc, CAMPAIGN_RELAX)
    mu_na = bulk.energy_eV / len(bulk.atoms)
    rows = []
    for i, label in enumerate(labels):
        atoms = graphene_mos2(**DEFAULT_MODELS[label])
        order = list(PROTOCOLS) if i % 2 == 0 else list(PROTOCOLS)[::-1]
        row = {"model": label, "atoms": len(atoms), "n_metal": atoms.info["n_metal"]}
        for name in order:
            cpu = time.process_time()
            row[name] = run_one(atoms, calc, counter, PROTOCOLS[name])
            row[name]["cpu_s"] = time.process_time() - cpu
            print(f"{label} {name}: {summary(row[name])}", flush=True)
            load.append(os.getloadavg()[0])
        rows.append(row)
    add_intercalation_energies(rows, mu_na)

    # part 2: cost per force call vs atoms
    probes = [
        time_force_calls(graphene_mos2(**DEFAULT_MODELS[lb]), calc) for lb in labels
    ]
    if not args.quick:
        for name, kw in PROBE_CELLS.items():
            probes.append(
                {"model": name, **time_force_calls(graphene_mos2(**kw), calc)}
            )
            print(f"probe {probes[-1]}", flush=True)
    for lb, p in zip(labels, probes, strict=False):
        p.setdefault("model", lb)
    load.append(os.getloadavg()[0])
    n = np.array([p["atoms"] for p in probes], float)
    fits = {}
    for key in ("call_s", "cpu_s"):
        s = np.array([p[key] for p in probes], float)
        slope, intercept = np.polyfit(n, s, 1)
        fits[key] = {"intercept": round(intercept, 4), "per_atom": round(slope, 5)}

    # part 3: extrapolation
    grid = grid_models(cells)
    extrapolation = {}
    for name in PROTOCOLS:
        ok = [r[name] for r in rows if "energy_eV" in r[name]]
        calls_per_model = float(np.mean([o["force_calls"] for o in ok]))
        extrapolation[name] = {"force_calls_per_model": round(calls_per_model, 1)}
        for key, fit in fits.items():
            seconds = sum(
                calls_per_model * (fit["intercept"] + fit["per_atom"] * g["atoms"])
                for g in grid
            )
            extrapolation[name][key] = {
                "force_call_seconds": round(seconds, 0),
                "wall_h_with_workers": round(seconds / args.workers / 3600, 2),
            }
    result = {
        "machine": machine(load),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_total_s": round(time.perf_counter() - t_start, 1),
        "lattice_search_s": round(search_s, 1),
        "settings": {
            "fmax_eV_A": CAMPAIGN_RELAX.fmax_eV_A,
            "max_steps": CAMPAIGN_RELAX.max_steps,
            "grid_max_strain": args.max_strain,
            "workers": args.workers,
        },
        "mu_Na_eV": round(mu_na, 6),
        "models": [
            {
                **{k: v for k, v in r.items() if k not in PROTOCOLS},
                **{n: clean(r[n]) for n in PROTOCOLS},
            }
            for r in rows
        ],
        "totals": totals(rows),
        "force_call_cost": {
            "probes": probes,
            "fit_s": fits,
        },
        "cells_grid_flat": {
            f"{m}-{p}-{args.max_strain}": c
            for m, per in cells.items()
            for p, c in per.items()
            if p != "hcp"
        },
        "cells_by_strain": strains,
        "grid": {
            "models": len(grid),
            "atoms_min": min(g["atoms"] for g in grid),
            "atoms_max": max(g["atoms"] for g in grid),
            "atoms_sum": sum(g["atoms"] for g in grid),
        },
        "extrapolation": extrapolation,
    }
    write(result, Path(args.out))
    return 0


def add_intercalation_energies(rows: list[dict], mu_eV: float) -> None:
    """E_int per metal atom of each loaded model against the empty cell of the
    same phase relaxed with the same protocol (when it is in ``rows``)."""
    empty = {r["model"].replace("-0L-", "-"): r for r in rows if "-0L-" in r["model"]}
    for r in rows:
        if r["n_metal"] == 0:
            continue
        metal, _, phase = r["model"].split("-")
        ref = empty.get(f"{metal}-{phase}")
        if ref is None:
            continue
        for name in PROTOCOLS:
            if "energy_eV" in r[name] and "energy_eV" in ref[name]:
                r[name]["intercalation_eV_per_metal"] = (
                    intercalation_energy_eV_per_metal(
                        r[name]["energy_eV"],
                        ref[name]["energy_eV"],
                        r["n_metal"],
                        mu_eV,
                    )
                )


def totals(rows: list[dict]) -> dict:
    out = {}
    for name in PROTOCOLS:
        out[name] = {
            "force_calls": sum(r[name]["force_calls"] for r in rows),
            "steps": sum(r[name].get("steps", 0) for r in rows),
            "prescan_calls": sum(r[name].get("prescan_evaluations", 0) for r in rows),
            "wall_s": round(sum(r[name].get("wall_s", 0.0) for r in rows), 1),
            "calc_s": round(sum(r[name].get("calc_s", 0.0) for r in rows), 1),
            "cpu_s": round(sum(r[name].get("cpu_s", 0.0) for r in rows), 1),
            "failed": [r["model"] for r in rows if "energy_eV" not in r[name]],
        }
    c, raw = out["campaign"], out["raw"]
    out["ratio_raw_over_campaign"] = {
        "force_calls": round(raw["force_calls"] / max(c["force_calls"], 1), 3),
        "wall": round(raw["wall_s"] / max(c["wall_s"], 1e-9), 3),
        "cpu": round(raw["cpu_s"] / max(c["cpu_s"], 1e-9), 3),
    }
    return out


def summary(out: dict) -> str:
    if "failed" in out:
        return f"FAILED after {out['force_calls']} calls: {out['failed']}"
    return (
        f"{out['force_calls']} calls ({out['prescan_evaluations']} pre-scan), "
        f"{out['steps']} steps, {out['wall_s']:.1f} s, E {out['energy_eV']:.5f} eV, "
        f"converged {out['converged']}"
    )


def _pct(values) -> str:
    return "/".join(f"{v:+.1f}" for v in values)


def write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    la = result["machine"]["load_average_1min"]
    t = result["totals"]
    lines = [
        "# Graphene/metal/MoS2 fast-engine grid: protocols, cost, extrapolation",
        "",
        f"{result['date']}; {result['machine']['cpus']} cores, 1 torch thread, "
        f"load average {la['min']}-{la['max']} (mean {la['mean']}) while it ran "
        "(shared machine: compare ratios). 7net-0 + D3(BJ), fmax "
        f"{result['settings']['fmax_eV_A']} eV/A, step cap "
        f"{result['settings']['max_steps']}; the two protocols alternate model by "
        f"model. Total {result['wall_total_s'] / 60:.1f} min.",
        "",
        "## Campaign protocol (gallery pre-scan) vs raw builder geometry",
        "",
        "| model | atoms | campaign: calls (pre-scan), steps, wall s | raw: calls, "
        "steps, wall s | E(raw) - E(campaign) meV/atom | E_int campaign / raw "
        "(eV per metal) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["models"]:
        c, w = r["campaign"], r["raw"]
        cells = []
        for o in (c, w):
            if "energy_eV" not in o:
                cells.append(f"failed: {o['failed']}")
            else:
                conv = "" if o["converged"] else " (not converged)"
                cells.append(
                    f"{o['force_calls']} ({o['prescan_evaluations']}), {o['steps']}, "
                    f"{o['wall_s']:.0f}{conv}"
                )
        de = (
            f"{1000 * (w['energy_eV'] - c['energy_eV']) / r['atoms']:+.2f}"
            if "energy_eV" in c and "energy_eV" in w
            else "-"
        )
        ei = (
            f"{c['intercalation_eV_per_metal']:.3f} / "
            f"{w['intercalation_eV_per_metal']:.3f}"
            if "intercalation_eV_per_metal" in c and "intercalation_eV_per_metal" in w
            else "-"
        )
        lines.append(
            f"| {r['model']} | {r['atoms']} | {cells[0]} | {cells[1]} | {de} | {ei} |"
        )
    ratio = t["ratio_raw_over_campaign"]
    lines += [
        "",
        f"Totals: campaign {t['campaign']['force_calls']} force calls "
        f"({t['campaign']['prescan_calls']} of them pre-scan), "
        f"{t['campaign']['wall_s']} s; raw {t['raw']['force_calls']} calls, "
        f"{t['raw']['wall_s']} s. **Raw / campaign: {ratio['force_calls']} in force "
        f"calls, {ratio['cpu']} in CPU time, {ratio['wall']} in wall time.** "
        "Time in the calculator: "
        f"{t['campaign']['calc_s']} of {t['campaign']['wall_s']} s (campaign), "
        f"{t['raw']['calc_s']} of {t['raw']['wall_s']} s (raw); CPU time of "
        f"this process {t['campaign']['cpu_s']} s (campaign), {t['raw']['cpu_s']} "
        "s (raw): the rest of the wall time is waiting for a core.",
        "",
        "## One force call vs cell size",
        "",
        "| model | atoms | force call, wall (s, median of 3) | CPU (s) | parts "
        "timed alone, wall (s) |",
        "|---|---|---|---|---|",
    ]
    for p in result["force_call_cost"]["probes"]:
        parts = ", ".join(f"{k} {v}" for k, v in p["parts_s"].items())
        lines.append(
            f"| {p['model']} | {p['atoms']} | {p['call_s']} | {p['cpu_s']} | {parts} |"
        )
    fits = result["force_call_cost"]["fit_s"]
    g = result["grid"]
    lines += [
        "",
        "Fits: wall t = {0[intercept]} s + {0[per_atom]} s x atoms; CPU t = "
        "{1[intercept]} s + {1[per_atom]} s x atoms.".format(
            fits["call_s"], fits["cpu_s"]
        ),
        "",
        "## Extrapolated full grid (an extrapolation, not a run)",
        "",
        f"{g['models']} models (5 metals x 0-4 layers x fcc/hcp/bcc x 2H/1T', hcp "
        "only at 3-4 layers, plus the one-layer fcc concentration series), each "
        "metal and packing in the smallest cell with metal strain <= "
        f"{100 * result['settings']['grid_max_strain']:.0f} % (table below), "
        f"{g['atoms_min']}-{g['atoms_max']} atoms, {g['atoms_sum']} in all. "
        "Cost = sum over models of (mean force calls per model of part 1, per "
        "protocol) x (fitted cost per call at the model's size) / "
        f"{result['settings']['workers']} workers: with the wall time per call "
        "measured at the load above, and with the CPU time per call (a free core "
        "per worker, an idle machine). The mean "
        "calls per model come from 26-32-atom Na cells; larger cells and Li "
        "multilayers need more steps (campaign Li models: up to 122 BFGS steps), "
        "so this is a lower bound.",
        "",
        "| protocol | force calls per model | grid wall (h), at the measured "
        "load | grid wall (h), idle machine (CPU time) |",
        "|---|---|---|---|",
    ]
    for name, e in result["extrapolation"].items():
        lines.append(
            f"| {name} | {e['force_calls_per_model']} | "
            f"{e['call_s']['wall_h_with_workers']} | "
            f"{e['cpu_s']['wall_h_with_workers']} |"
        )
    lines += [
        "",
        "## Smallest cells (graphene and MoS2 <= 2 %, metal <= max_strain; hcp "
        "planes are the fcc ones)",
        "",
        "| metal, packing, max_strain | Mo | C | metal per plane | atoms empty / 1 "
        "layer / 2 layers | metal principal strains (%) |",
        "|---|---|---|---|---|---|",
    ]
    for key, c in {**result["cells_grid_flat"], **result["cells_by_strain"]}.items():
        if "error" in c:
            lines.append(f"| {key} | none: {c['error']} | | | | |")
        else:
            lines.append(
                f"| {key} | {c['n_Mo']} | {c['n_carbon']} | {c['per_plane']} | "
                f"{c['atoms_empty']} / {c['atoms_1L']} / {c['atoms_2L']} | "
                f"{_pct(c['metal_principal_strains_pct'])} |"
            )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
