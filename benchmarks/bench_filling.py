"""Sequential filling: cheap candidate search vs exhaustive relaxation.

(a1) On a small pore (Na in a 0.8 nm closed pore, 2 x 2 rectangular cells, 32 C),
     run the same filling twice with 7net-0 + D3(BJ): the cheap search (rank every
     candidate by a single point, fully relax the best ``n_relax``) and the
     exhaustive one (fully relax every candidate).  Reports both wall times, force
     calls, and whether they chose the same configuration at every step.
(a2) The full Na filling of the default wedge pore is the production job
     ``runs/hard_carbon`` ``wedge-Na`` (same protocol); its wall time and force
     calls are read from ``runs/hard_carbon/results/wedge-Na.json``, and the cost
     of an exhaustive search of the same steps is estimated as (candidates per
     step) x (force calls of one full relaxation in that step) + the single points.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_filling.py

Writes ``results/filling.json`` and ``results/filling.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEDGE = HERE.parent / "runs" / "hard_carbon" / "results" / "wedge-Na.json"


def small_pore_comparison(calc, n_max: int) -> dict:
    from alkali_layers.builders import closed_pore
    from alkali_layers.calculators.filling import (
        FillingSettings,
        same_path,
        sequential_filling,
    )
    from alkali_layers.calculators.references import ReferenceEnergies
    from alkali_layers.calculators.relax import RelaxSettings

    relax = RelaxSettings(fmax_eV_A=0.1, max_steps=30, gallery_prescan=False)
    refs = ReferenceEnergies(calc, relax)
    mu = refs.metal_eV_per_atom("Na")
    pore = closed_pore(0.8, size=(2, 2))
    out = {}
    results = {}
    for name, kw in (
        ("cheap", dict(n_relax=2)),
        ("exhaustive", dict(exhaustive=True)),
    ):
        settings = FillingSettings(
            n_max=n_max,
            atoms_per_step=1,
            max_candidates=6,
            n_random=1,
            relax=relax,
            stop_below_V=None,
            **kw,
        )
        t = time.perf_counter()
        res = sequential_filling(pore, "Na", calc, settings, mu_metal_eV=mu)
        wall = time.perf_counter() - t
        results[name] = res
        out[name] = dict(
            wall_s=round(wall, 1),
            force_calls=sum(s.force_calls for s in res.steps),
            path=res.path,
            energy_eV=[round(e, 4) for e in res.energy_eV],
        )
        print(name, json.dumps(out[name]), flush=True)
    out["same_path"] = same_path(results["cheap"], results["exhaustive"])
    out["ratio_exhaustive_over_cheap_wall"] = round(
        out["exhaustive"]["wall_s"] / out["cheap"]["wall_s"], 2
    )
    out["n_atoms"] = len(pore) + n_max
    return out


def wedge_estimate() -> dict | None:
    if not WEDGE.exists():
        return None
    d = json.loads(WEDGE.read_text())
    steps = d["steps"][1:]
    actual = sum(s["force_calls"] for s in d["steps"])
    estimate = d["steps"][0]["force_calls"]
    for s in steps:
        n_full = max(len(s["relaxed"]), 1)
        full_calls = (s["force_calls"] - s["n_candidates"]) / n_full
        estimate += s["n_candidates"] * (1 + full_calls)
    return dict(
        n_atoms_host=sum(d["host_counts"].values()),
        n_metal=d["steps"][-1]["n_metal"],
        steps=len(steps),
        wall_min=round(d["wall_s"] / 60, 1),
        force_calls=actual,
        exhaustive_force_calls_estimate=round(estimate),
        ratio_exhaustive_over_cheap=round(estimate / actual, 2),
        settings=d["settings"],
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n-max", type=int, default=3)
    p.add_argument("--skip-small", action="store_true")
    p.add_argument("--out", default=str(HERE / "results" / "filling"))
    args = p.parse_args(argv)
    out = Path(args.out)
    data = {}
    if out.with_suffix(".json").exists():
        data = json.loads(out.with_suffix(".json").read_text())
    if not args.skip_small:
        from alkali_layers.calculators.engines import make_calculator

        data["small_pore"] = small_pore_comparison(
            make_calculator("mlip", threads=1), args.n_max
        )
    data["wedge_Na"] = wedge_estimate()
    data["date"] = time.strftime("%Y-%m-%d")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    lines = ["# Sequential filling: cheap vs exhaustive candidate search", ""]
    sp = data.get("small_pore")
    if sp:
        lines += [
            f"Small pore (Na, 0.8 nm slit, 32 C, {len(sp['cheap']['path']) - 1} "
            "steps of 1 atom, 7net-0 + D3(BJ), 1 thread):",
            "",
            "| search | wall (s) | force calls | path |",
            "|---|---|---|---|",
        ]
        for name in ("cheap", "exhaustive"):
            r = sp[name]
            lines.append(
                f"| {name} | {r['wall_s']} | {r['force_calls']} | "
                f"{' > '.join(r['path'][1:])} |"
            )
        lines += [
            "",
            f"Same configuration at every step: **{sp['same_path']}**; exhaustive / "
            f"cheap wall time: **{sp['ratio_exhaustive_over_cheap_wall']}**.",
            "",
        ]
    w = data.get("wedge_Na")
    if w:
        lines += [
            f"Full Na filling of the default wedge pore ({w['n_atoms_host']} host "
            f"atoms, {w['n_metal']} Na in {w['steps']} steps): "
            f"**{w['wall_min']} min**, "
            f"{w['force_calls']} force calls; an exhaustive search of the same steps "
            f"would take ~{w['exhaustive_force_calls_estimate']} force calls "
            f"(**{w['ratio_exhaustive_over_cheap']} x**).",
            "",
        ]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
