"""Benchmark: the full bilayer-graphene table, the toolkit's way vs the naive way.

Both are measured side by side in one run on the same machine:

* **toolkit**: ``BilayerRunner`` as ``alkali-layers table bilayer-graphene`` runs it:
  shared references (each bcc metal and each pristine bilayer relaxed once, in its
  primitive cell), a rigid gallery pre-scan before BFGS, and 2 worker processes.
* **naive**: each model relaxed from the builder geometry with plain BFGS, its
  references recomputed for every model (bcc metal relaxed again, pristine bilayer
  relaxed in the model's own supercell), one process.

It prints and writes (``benchmarks/results/bilayer_table.{json,md}``) the wall times,
their ratio, the formation-energy differences between the two, and a profile of one
relaxation (where the time goes).

    .venv/bin/python benchmarks/bench_bilayer_table.py            # full 40 models
    .venv/bin/python benchmarks/bench_bilayer_table.py --quick    # Na and Rb, AA only
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

from alkali_layers.builders import bilayer_graphene  # noqa: E402
from alkali_layers.calculators.guards import ModelFailure  # noqa: E402
from alkali_layers.calculators.references import metal_reference_atoms  # noqa: E402
from alkali_layers.calculators.relax import RelaxSettings, relax  # noqa: E402
from alkali_layers.campaigns.backends import LocalBackend  # noqa: E402
from alkali_layers.campaigns.campaign import Campaign  # noqa: E402
from alkali_layers.campaigns.spec import CampaignSpec, load_spec  # noqa: E402
from alkali_layers.engines import make_calculator  # noqa: E402

HERE = Path(__file__).parent
SPEC = HERE.parent / "runs" / "bilayer_graphene" / "campaign.toml"


def spec_copy(tmp: str, quick: bool) -> CampaignSpec:
    """The bilayer spec, copied into ``tmp`` (optionally reduced to Na and Rb, AA)."""
    text = SPEC.read_text()
    if quick:
        text = text.replace(
            'metal = ["Li", "Na", "K", "Rb", "Cs"]', 'metal = ["Na", "Rb"]'
        )
        text = text.replace('stacking = ["AA", "AB"]', 'stacking = ["AA"]')
    path = Path(tmp) / "campaign.toml"
    path.write_text(text)
    return load_spec(path)


def run_toolkit(quick: bool, workers: int) -> tuple[float, dict, dict, CampaignSpec]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = spec_copy(tmp, quick)
        campaign = Campaign(spec)
        t0 = time.perf_counter()
        table = campaign.run(LocalBackend(workers))
        wall = time.perf_counter() - t0
        ef = {
            (r["metal"], r["n_layers"], r["stacking"]): r[
                "formation_energy_eV_per_metal_atom"
            ]
            for r in table
        }
        rows = [r for r in campaign.store.rows(role="model") if r.get("status") == "ok"]
        steps = {r.label: (r.natoms, r.n_steps, r.wall_s) for r in rows}
    timings = {k: round(v, 2) for k, v in campaign.timings.items()}
    return wall, ef, {"timings_s": timings, "per_model": steps}, spec


def run_naive(spec: CampaignSpec) -> tuple[float, dict, dict]:
    calc = make_calculator("mlip", spec.engine)
    settings = RelaxSettings(
        spec.relax.fmax_eV_A,
        spec.relax.max_steps,
        spec.relax.optimizer,
        gallery_prescan=False,
    )
    grid = spec.models[0].grid
    packing = spec.models[0].params.get("packing", "fcc")
    ref_settings = RelaxSettings(0.005, 300, "BFGS", gallery_prescan=False)
    ef, steps, t_refs = {}, {}, 0.0
    t0 = time.perf_counter()
    for metal in grid["metal"]:
        for stacking in grid["stacking"]:
            for n in grid["n_layers"]:
                atoms = bilayer_graphene(metal, n, stacking, packing)
                label = f"{metal}-{n}L-{stacking}"
                try:
                    t1 = time.perf_counter()
                    mu = relax(
                        metal_reference_atoms(metal), calc, ref_settings
                    ).energy_eV
                    host = bilayer_graphene(
                        None, 0, stacking, supercell=atoms.info["supercell"]
                    )
                    e_host = relax(host, calc, ref_settings).energy_eV
                    t_refs += time.perf_counter() - t1
                    r = relax(atoms, calc, settings)
                except ModelFailure as err:
                    print(f"  naive {label}: FAILED {err.reason}", flush=True)
                    continue
                n_m = atoms.info["n_metal"]
                ef[(metal, n, stacking)] = (r.energy_eV - e_host - n_m * mu) / n_m
                steps[label] = (len(atoms), r.n_steps, round(r.wall_s, 2))
                print(
                    f"  naive {label}: {len(atoms)} atoms, {r.n_steps} steps, "
                    f"{r.wall_s:.1f} s, E_f {ef[(metal, n, stacking)]:+.3f} eV",
                    flush=True,
                )
    wall = time.perf_counter() - t0
    return wall, ef, {"references_s": round(t_refs, 1), "per_model": steps}


def profile_one(spec: CampaignSpec, metal="K", n_layers=3, stacking="AA") -> dict:
    """Where the time of one relaxation goes, by package (cProfile, tottime)."""
    calc = make_calculator("mlip", spec.engine)
    atoms = bilayer_graphene(metal, n_layers, stacking)
    relax(bilayer_graphene(metal, 1, stacking), calc)  # warm-up (first torch call)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    result = relax(atoms, calc, spec.relax)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats
    groups = {
        "ML potential (sevenn/e3nn/torch)": 0.0,
        "D3 dispersion (dftd3)": 0.0,
        "optimizer (ase.optimize)": 0.0,
        "guards + neighbour lists (alkali_layers, ase.neighborlist)": 0.0,
        "other": 0.0,
    }
    for (filename, _, name), (_, _, tottime, _, _) in stats.items():
        f = f"{filename}:{name}"
        if any(k in f for k in ("sevenn", "e3nn", "torch")):
            groups["ML potential (sevenn/e3nn/torch)"] += tottime
        elif "dftd3" in f:
            groups["D3 dispersion (dftd3)"] += tottime
        elif "ase/optimize" in f or "linalg" in f:
            groups["optimizer (ase.optimize)"] += tottime
        elif "alkali_layers" in f or "neighborlist" in f:
            groups["guards + neighbour lists (alkali_layers, ase.neighborlist)"] += (
                tottime
            )
        else:
            groups["other"] += tottime
    total = sum(groups.values())
    return {
        "model": f"{metal}-{n_layers}L-{stacking}",
        "atoms": len(atoms),
        "steps": result.n_steps,
        "prescan_evaluations": result.prescan_evaluations,
        "wall_s": round(wall, 2),
        "seconds_per_force_call": round(
            wall / (result.n_steps + 1 + result.prescan_evaluations), 3
        ),
        "fractions": {k: round(v / total, 4) for k, v in groups.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="Na and Rb, AA, 1-4 layers"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    print(f"toolkit way ({args.workers} workers) ...", flush=True)
    t_fast, ef_fast, fast_detail, spec = run_toolkit(args.quick, args.workers)
    print(f"toolkit way: {t_fast / 60:.2f} min", flush=True)
    print("naive way (1 process, references per model, no pre-scan) ...", flush=True)
    t_naive, ef_naive, naive_detail = run_naive(spec)
    print(f"naive way: {t_naive / 60:.2f} min", flush=True)
    common = sorted(set(ef_fast) & set(ef_naive))
    diffs = np.array([ef_fast[k] - ef_naive[k] for k in common])
    profile = profile_one(spec)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "models": len(ef_fast),
        "toolkit_wall_min": round(t_fast / 60, 2),
        "naive_wall_min": round(t_naive / 60, 2),
        "speedup_naive_over_toolkit": round(t_naive / t_fast, 2),
        "formation_energy_diff_eV": {
            "mean_abs": round(float(np.mean(np.abs(diffs))), 4) if len(diffs) else None,
            "max_abs": round(float(np.max(np.abs(diffs))), 4) if len(diffs) else None,
            "per_model": {
                f"{m}-{n}L-{s}": round(
                    float(ef_fast[(m, n, s)] - ef_naive[(m, n, s)]), 4
                )
                for (m, n, s) in common
            },
        },
        "toolkit": fast_detail,
        "naive": naive_detail,
        "profile_one_relaxation": profile,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "bilayer_table_quick" if args.quick else "bilayer_table"
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    lines = [
        f"# Bilayer table benchmark ({'quick subset' if args.quick else 'full'})",
        "",
        f"Machine: {os.cpu_count()} cores. Models: {len(ef_fast)}.",
        "",
        "| way | wall time (min) |",
        "|---|---|",
        f"| toolkit ({args.workers} workers, shared refs, gallery pre-scan) "
        f"| {t_fast / 60:.2f} |",
        f"| naive (1 process, refs per model, plain BFGS) | {t_naive / 60:.2f} |",
        f"| ratio naive / toolkit | {t_naive / t_fast:.2f} |",
        "",
        f"Formation energies, toolkit - naive: mean |diff| "
        f"{result['formation_energy_diff_eV']['mean_abs']} eV, max "
        f"{result['formation_energy_diff_eV']['max_abs']} eV per metal atom "
        "(different local minima of flat landscapes).",
        "",
        f"Toolkit phases (s): {fast_detail['timings_s']}",
        "",
        f"Profile of one relaxation ({profile['model']}, {profile['atoms']} atoms, "
        f"{profile['steps']} steps, "
        f"{profile['seconds_per_force_call']} s per force call):",
        "",
        "| part | fraction of time |",
        "|---|---|",
        *[f"| {k} | {100 * v:.1f} % |" for k, v in profile["fractions"].items()],
    ]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
