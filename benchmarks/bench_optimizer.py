"""Benchmark: relaxation optimizers on the bilayer-graphene table, side by side.

Every model of a subset of ``runs/bilayer_graphene`` (and its references: the bcc
metal and the pristine bilayer, relaxed as the campaign relaxes them) is relaxed
with today's protocol (BFGS after the gallery pre-scan, fmax 0.02 eV/A, references
0.005 eV/A) and with each candidate optimizer, alternately (the order flips from one
model to the next, so a change of the machine's load hits every protocol alike),
in one process with one torch thread.  The same engine (7net-0 + D3(BJ)), the same
fmax and the same pre-scan: only the optimizer differs.

Reported per protocol: force calls (every call of the calculator, line-search and
pre-scan points included), optimizer steps, wall time, and per model the energy and
the formation energy per metal atom against the protocol's own references, with
their differences from today's protocol.  The machine is shared: the force-call
ratio is the result; wall-time ratios are given with the load average.

    .venv/bin/python benchmarks/bench_optimizer.py                 # default subset
    .venv/bin/python benchmarks/bench_optimizer.py --models all    # the 40 models
    .venv/bin/python benchmarks/bench_optimizer.py --models Na-3L-AA,Rb-2L-AB \
        --candidates ODE12r:Exp

Writes ``benchmarks/results/optimizer.{json,md}`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

warnings.filterwarnings("ignore")

from alkali_layers.builders import bilayer_graphene  # noqa: E402
from alkali_layers.builders.intercalation import pristine_host  # noqa: E402
from alkali_layers.calculators.energetics import formation_from_energy  # noqa: E402
from alkali_layers.calculators.guards import ModelFailure  # noqa: E402
from alkali_layers.calculators.references import (  # noqa: E402
    metal_reference_atoms,
    reference_energy_per_unit,
    reference_settings,
)
from alkali_layers.calculators.relax import RelaxSettings, relax  # noqa: E402
from alkali_layers.engines import make_calculator  # noqa: E402

HERE = Path(__file__).resolve().parent
#: the models that hold most of the table's cost (Li and K multilayers: ~60 % of
#: atoms x steps), one of each other metal and two cheap one-layer models
DEFAULT_MODELS = (
    "Li-2L-AA",
    "K-2L-AB",
    "Cs-2L-AA",
    "Na-3L-AA",
    "Rb-3L-AB",
    "Li-1L-AB",
)
ALL_MODELS = tuple(
    f"{m}-{n}L-{s}"
    for m in ("Li", "Na", "K", "Rb", "Cs")
    for s in ("AA", "AB")
    for n in (1, 2, 3, 4)
)
BASELINE = "BFGS"
#: optimizers that cannot relax a cell with the ML + D3 calculator (see relax.py):
#: their bcc-metal references are relaxed with BFGS
NO_CELL = ("PreconLBFGS",)


class CallCounter:
    """Counts (and times) the calls of a calculator's ``calculate``."""

    def __init__(self, calc):
        self.calc, self.calls, self.seconds = calc, 0, 0.0
        inner = calc.calculate

        def calculate(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.calls += 1
                self.seconds += time.perf_counter() - t

        calc.calculate = calculate

    def take(self) -> tuple[int, float]:
        out = (self.calls, self.seconds)
        self.calls, self.seconds = 0, 0.0
        return out


def protocol(name: str, base: RelaxSettings) -> RelaxSettings:
    """``"BFGS"`` or ``"OPTIMIZER:PRECON"`` (e.g. ``ODE12r:Exp``) on ``base``."""
    optimizer, _, precon = name.partition(":")
    return replace(base, optimizer=optimizer, precon=precon or None)


def build(label: str):
    metal, layers, stacking = label.split("-")
    return bilayer_graphene(
        metal, int(layers[:-1]), stacking, packing="fcc", max_strain=0.02
    )


def run_one(atoms, calc, counter, settings) -> dict:
    counter.take()
    t = time.perf_counter()
    try:
        r = relax(atoms, calc, settings)
    except ModelFailure as err:
        calls, _ = counter.take()
        return {"failed": err.reason, "force_calls": calls}
    wall = time.perf_counter() - t
    calls, calc_s = counter.take()
    return {
        "atoms": r.atoms,
        "energy_eV": r.energy_eV,
        "force_calls": calls,
        "steps": r.n_steps,
        "prescan_evaluations": r.prescan_evaluations,
        "converged": r.converged,
        "fmax_eV_A": r.fmax_eV_A,
        "wall_s": wall,
        "calc_s": calc_s,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated labels (metal-<n>L-stacking) or 'all'",
    )
    parser.add_argument(
        "--candidates",
        default="ODE12r:Exp",
        help="comma-separated OPTIMIZER[:PRECON] compared with BFGS",
    )
    parser.add_argument("--out", default=str(HERE / "results" / "optimizer"))
    args = parser.parse_args(argv)
    labels = ALL_MODELS if args.models == "all" else tuple(args.models.split(","))
    base = RelaxSettings()  # the bilayer_graphene spec's [relax] is the default
    names = [BASELINE, *args.candidates.split(",")]
    settings = {n: protocol(n, base) for n in names}
    calc = make_calculator("mlip", threads=1)
    counter = CallCounter(calc)
    load = [os.getloadavg()[0]]
    t_start = time.perf_counter()

    # references (as the campaign: bcc metal, pristine bilayer in its primitive
    # cell, fmax 0.005 eV/A), each with every protocol
    refs: dict[str, dict[str, dict]] = {n: {} for n in names}
    ref_atoms = {}
    for label in labels:
        atoms = build(label)
        metal = atoms.info["metal"]
        host = pristine_host(atoms)
        ref_atoms[f"bulk-{metal}"] = metal_reference_atoms(metal)
        ref_atoms[f"{host.info['host']}-{host.info['stacking']}"] = host
    for i, (ref_label, ref) in enumerate(sorted(ref_atoms.items())):
        order = names if i % 2 == 0 else names[::-1]
        for n in order:
            ref_settings = reference_settings(settings[n])
            if ref.info.get("host") == "bulk" and ref_settings.optimizer in NO_CELL:
                # the bcc metal relaxes its cell, which PreconLBFGS cannot here
                ref_settings = replace(ref_settings, optimizer=BASELINE, precon=None)
            out = run_one(ref, calc, counter, ref_settings)
            if "failed" not in out:
                out["per_unit_eV"] = reference_energy_per_unit(
                    SimpleNamespace(atoms=out["atoms"], energy_eV=out["energy_eV"])
                )
            refs[n][ref_label] = out
            print(f"ref {ref_label} {n}: {summary(out)}", flush=True)

    rows = []
    for i, label in enumerate(labels):
        atoms = build(label)
        metal = atoms.info["metal"]
        host = pristine_host(atoms)
        host_label = f"{host.info['host']}-{host.info['stacking']}"
        n_metal = atoms.info["n_metal"]
        order = names if i % 2 == 0 else names[::-1]
        row = {"model": label, "atoms": len(atoms), "n_metal": n_metal}
        for n in order:
            out = run_one(atoms, calc, counter, settings[n])
            mu, h = refs[n].get(f"bulk-{metal}", {}), refs[n].get(host_label, {})
            if "failed" not in out and "per_unit_eV" in mu and "per_unit_eV" in h:
                out["formation_eV_per_metal"] = formation_from_energy(
                    out["energy_eV"], atoms, h["per_unit_eV"], mu["per_unit_eV"]
                )[0]
            row[n] = out
            print(f"{label} {n}: {summary(out)}", flush=True)
            load.append(os.getloadavg()[0])
        rows.append(row)
    wall_total = time.perf_counter() - t_start
    result = report(rows, refs, names, load, wall_total)
    write(result, Path(args.out))
    return 0


def summary(out: dict) -> str:
    if "failed" in out:
        return f"FAILED after {out['force_calls']} calls: {out['failed']}"
    return (
        f"{out['force_calls']} calls, {out['steps']} steps, {out['wall_s']:.1f} s, "
        f"E {out['energy_eV']:.5f} eV, converged {out['converged']}"
    )


def clean(out: dict) -> dict:
    return {
        k: (round(v, 6) if isinstance(v, float) else v)
        for k, v in out.items()
        if k != "atoms"
    }


def machine(load: list[float]) -> dict:
    """The machine a benchmark ran on: CPUs, processor, the 1-minute load average
    sampled during the run (min, max, mean) and the torch threads (1)."""
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "load_average_1min": {
            "min": round(min(load), 2),
            "max": round(max(load), 2),
            "mean": round(float(np.mean(load)), 2),
        },
        "torch_threads": 1,
    }


def report(rows, refs, names, load, wall_total) -> dict:
    totals = {}
    for n in names:
        ok = [r for r in rows if "energy_eV" in r[n]]
        totals[n] = {
            "models_ok": len(ok),
            "models_failed": [r["model"] for r in rows if "energy_eV" not in r[n]],
            "force_calls": sum(r[n]["force_calls"] for r in rows),
            "atom_force_calls": sum(r["atoms"] * r[n]["force_calls"] for r in rows),
            "steps": sum(r[n].get("steps", 0) for r in rows),
            "wall_s": round(sum(r[n].get("wall_s", 0.0) for r in rows), 1),
            "ref_force_calls": sum(o["force_calls"] for o in refs[n].values()),
            "ref_wall_s": round(sum(o.get("wall_s", 0.0) for o in refs[n].values()), 1),
        }
    base = totals[BASELINE]
    comparisons = {}
    for n in names[1:]:
        both = [r for r in rows if "energy_eV" in r[n] and "energy_eV" in r[BASELINE]]
        de_atom = [
            1000 * (r[n]["energy_eV"] - r[BASELINE]["energy_eV"]) / r["atoms"]
            for r in both
        ]
        de_f = [
            1000
            * (r[n]["formation_eV_per_metal"] - r[BASELINE]["formation_eV_per_metal"])
            for r in both
            if "formation_eV_per_metal" in r[n]
            and "formation_eV_per_metal" in r[BASELINE]
        ]
        same = [
            r
            for r in both
            if abs(r[n]["energy_eV"] - r[BASELINE]["energy_eV"]) / r["atoms"] <= 1e-3
        ]
        comparisons[n] = {
            "force_call_ratio_baseline_over_candidate": round(
                (base["atom_force_calls"]) / max(totals[n]["atom_force_calls"], 1), 3
            ),
            "wall_ratio_baseline_over_candidate": round(
                base["wall_s"] / max(totals[n]["wall_s"], 1e-9), 3
            ),
            "dE_meV_per_atom": {
                "max_abs": round(float(np.max(np.abs(de_atom))), 3) if both else None,
                "mean": round(float(np.mean(de_atom)), 3) if both else None,
            },
            "dEf_meV_per_metal": {
                "max_abs": round(float(np.max(np.abs(de_f))), 3) if de_f else None,
                "mean_abs": round(float(np.mean(np.abs(de_f))), 3) if de_f else None,
            },
            "same_minimum_within_1meV_per_atom": f"{len(same)}/{len(both)}",
        }
    return {
        "machine": machine(load),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_total_s": round(wall_total, 1),
        "protocols": names,
        "settings": {"fmax_eV_A": 0.02, "references_fmax_eV_A": 0.005},
        "totals": totals,
        "comparisons": comparisons,
        "references": {n: {k: clean(o) for k, o in refs[n].items()} for n in names},
        "models": [
            {
                **{k: v for k, v in r.items() if k not in names},
                **{n: clean(r[n]) for n in names},
            }
            for r in rows
        ],
    }


def write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    names = result["protocols"]
    la = result["machine"]["load_average_1min"]
    lines = [
        "# Optimizer benchmark: bilayer-graphene models, 7net-0 + D3(BJ)",
        "",
        f"{result['date']}; {result['machine']['cpus']} cores, 1 torch thread, "
        f"load average {la['min']}-{la['max']} (mean {la['mean']}) while it ran "
        "(the machine is shared: compare ratios). Same fmax (0.02 eV/A, "
        "references 0.005), same gallery pre-scan; protocols alternate model by "
        "model.",
        "",
        "| protocol | force calls (models) | atom x force calls | steps | "
        "wall (s) | failed | force calls (refs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        t = result["totals"][n]
        lines.append(
            f"| {n} | {t['force_calls']} | {t['atom_force_calls']} | {t['steps']} "
            f"| {t['wall_s']} | {', '.join(t['models_failed']) or '-'} "
            f"| {t['ref_force_calls']} |"
        )
    lines += [
        "",
        "| candidate | BFGS / candidate, atom x force calls | BFGS / candidate, "
        "wall | max abs dE (meV/atom) | same minimum (1 meV/atom) | "
        "max abs dE_f (meV/metal) | mean abs dE_f (meV/metal) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, c in result["comparisons"].items():
        lines.append(
            f"| {n} | {c['force_call_ratio_baseline_over_candidate']} | "
            f"{c['wall_ratio_baseline_over_candidate']} | "
            f"{c['dE_meV_per_atom']['max_abs']} | "
            f"{c['same_minimum_within_1meV_per_atom']} | "
            f"{c['dEf_meV_per_metal']['max_abs']} | "
            f"{c['dEf_meV_per_metal']['mean_abs']} |"
        )
    lines += [
        "",
        "Per model: force calls (wall s), E - E(BFGS) in meV/atom, "
        "E_f - E_f(BFGS) in meV per metal atom:",
        "",
        "| model | atoms | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for r in result["models"]:
        cells = []
        b = r[BASELINE]
        for n in names:
            o = r[n]
            if "energy_eV" not in o:
                cells.append(f"failed ({o['force_calls']} calls)")
                continue
            cell = f"{o['force_calls']} ({o['wall_s']:.0f} s)"
            if n != BASELINE and "energy_eV" in b:
                de = 1000 * (o["energy_eV"] - b["energy_eV"]) / r["atoms"]
                cell += f", dE {de:+.2f}"
                if "formation_eV_per_metal" in o and "formation_eV_per_metal" in b:
                    def_ = 1000 * (
                        o["formation_eV_per_metal"] - b["formation_eV_per_metal"]
                    )
                    cell += f", dE_f {def_:+.1f}"
            if not o["converged"]:
                cell += " (not converged)"
            cells.append(cell)
        lines.append(f"| {r['model']} | {r['atoms']} | " + " | ".join(cells) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
