"""Benchmark: staged ML -> DFT relaxation vs DFT-only relaxation, and MPI scaling.

For the same models, relaxed to the same final fmax with the same GPAW settings:

* **staged**: SevenNet 7net-0 + D3(BJ) pre-relaxation, then GPAW relaxation, then
  the GPAW single point;
* **DFT-only**: GPAW relaxation from the builder geometry, then the same single
  point.

``--finetuned`` replaces 7net-0 + D3(BJ) by a checkpoint of ``alkali-layers
finetune`` (its ``finetune.json``; the dispersion it was trained without stays off).
Reported: total SCF iterations and wall time of each way, their ratios, and the
difference of the final energies (meV/atom).  Then the wall time of one GPAW single
point on 1 and on 2 MPI ranks (run as subprocesses, side by side).

    .venv/bin/python benchmarks/bench_staged_dft.py               # ~1.5 h on 2 cores
    .venv/bin/python benchmarks/bench_staged_dft.py --models Li-2L,Na-3L --ranks 2
    # the pre-relaxation with a fine-tuned engine, each way on its own core
    .venv/bin/python benchmarks/bench_staged_dft.py --models K-2L,Na-2L,Li-2L \
        --finetuned runs/finetune/optpbe400_rerun/finetune.json --ranks 1 \
        --ways dft_only --name staged_dft_finetuned &
    .venv/bin/python benchmarks/bench_staged_dft.py --models K-2L,Na-2L,Li-2L \
        --finetuned runs/finetune/optpbe400_rerun/finetune.json --ranks 1 \
        --ways staged --name staged_dft_finetuned

The relaxations run as one ``mpiexec -n RANKS`` worker (both ways on the same
ranks).  Every finished (model, way) pair is checkpointed in
``results/staged_dft_runs.json`` under the settings it used, so an interrupted
benchmark resumes at the first unfinished pair (an unfinished pair restarts: its wall
time must be measured in one piece).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from alkali_layers.mpi import init_mpi  # noqa: E402

init_mpi()

from ase.parallel import world  # noqa: E402

from alkali_layers.builders import bilayer_graphene  # noqa: E402
from alkali_layers.calculators.relax import RelaxSettings  # noqa: E402
from alkali_layers.calculators.staged import staged_relax  # noqa: E402
from alkali_layers.engines import PRESETS, DFTProtocol, MLIPSettings  # noqa: E402
from alkali_layers.jsonio import write_json_atomic  # noqa: E402
from alkali_layers.settings import stable_hash  # noqa: E402

HERE = Path(__file__).parent
RESULTS = HERE / "results"
CHECKPOINTS = RESULTS / "staged_dft_runs.json"
#: label -> (metal, layers, metal strain allowed): the DFT-sized AA cells of
#: runs/bilayer_graphene_dft (13-40 atoms, fcc-packed layers, the campaign's strains).
MODELS = {
    f"{metal}-{n}L": (metal, n, strain)
    for metal, strain in (("Li", 0.05), ("Na", 0.02), ("K", 0.06))
    for n in (1, 2, 3)
}
#: the default set: the 13-19-atom cells that fit a 2-core machine (~1.5 h).  The
#: 34-40-atom Li and Na multilayers took 23-55 min each for the staged way alone in the
#: campaign (2 ranks), so DFT-only runs of them are for a larger machine.
DEFAULT_MODELS = ("Li-1L", "Na-1L", "K-1L", "K-2L", "K-3L")
RELAX = RelaxSettings(fmax_eV_A=0.05, max_steps=200)
MPI_ENV = {
    "GPAW_MPI_BACKEND": "cgpaw",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
}


WAYS = ("staged", "dft_only")


def ml_settings(finetuned: str | None) -> MLIPSettings:
    """The pre-relaxation engine: 7net-0 + D3(BJ), or a fine-tuned checkpoint."""
    return (
        MLIPSettings() if finetuned is None else MLIPSettings.from_finetuned(finetuned)
    )


def _ways(ml: MLIPSettings) -> dict:
    fast = PRESETS["fast"]
    return {
        way: DFTProtocol(final=fast, relax=fast, prerelax=prerelax)
        for way, prerelax in zip(WAYS, (ml, None), strict=True)
    }


def checkpoint_key(label: str, way: str, protocol: DFTProtocol) -> str:
    """Identity of one measurement: model, way and every setting that enters it."""
    return f"{label}/{way}/" + stable_hash(
        {"protocol": protocol.settings_hash(), "relax": vars(RELAX)}
    )


def load_checkpoints() -> dict:
    return json.loads(CHECKPOINTS.read_text()) if CHECKPOINTS.exists() else {}


def run_models(labels: list[str], ml: MLIPSettings, ways: tuple[str, ...]) -> None:
    """Relax every model in ``ways`` (all ranks); rank 0 checkpoints each pair."""
    settings = replace(RELAX, gallery_prescan=False)
    scratch = Path(tempfile.gettempdir()) / "bench_staged_dft"
    for label in labels:
        metal, n, strain = MODELS[label]
        atoms = bilayer_graphene(metal, n, "AA", packing="fcc", max_strain=strain)
        for way, protocol in _ways(ml).items():
            if way not in ways:
                continue
            key = checkpoint_key(label, way, protocol)
            if key in load_checkpoints():
                continue
            folder = scratch / f"{label}-{way}"
            if world.rank == 0:  # a fresh folder: no resume from an old trajectory
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
            world.barrier()
            t0 = time.perf_counter()
            res = staged_relax(atoms, protocol, settings, folder=folder)
            wall = time.perf_counter() - t0
            row = {
                "model": label,
                "way": way,
                "atoms": len(atoms),
                "ranks": world.size,
                "energy_eV": res.energy_eV,
                "scf_iterations": res.scf_iterations["relax"]
                + res.scf_iterations["final"],
                "dft_steps": res.relaxed.n_steps,
                "wall_s": round(wall, 1),
                "converged": res.converged,
            }
            if world.rank == 0:  # two benchmarks (--ways) may share the file
                lock = Path(tempfile.gettempdir()) / "staged_dft_runs.lock"
                with lock.open("w") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX)
                    done = load_checkpoints()
                    done[key] = row
                    write_json_atomic(CHECKPOINTS, done)
                print(f"{label} {way}: {row}", flush=True)
            world.barrier()


def collect(labels: list[str], ml: MLIPSettings) -> list[dict]:
    """Both ways of each model from the checkpoints, with their energy difference."""
    done = load_checkpoints()
    rows = []
    for label in labels:
        keys = {way: checkpoint_key(label, way, p) for way, p in _ways(ml).items()}
        missing = [way for way, key in keys.items() if key not in done]
        if missing:
            raise SystemExit(
                f"{label}: no measurement of {', '.join(missing)} under these settings "
                "yet; run the benchmark (it resumes) before --report"
            )
        out = {way: done[key] for way, key in keys.items()}
        staged, dft = out["staged"], out["dft_only"]
        rows.append(
            {
                "model": f"{label}-AA",
                "atoms": staged["atoms"],
                **out,
                "dE_meV_per_atom": 1000
                * (staged["energy_eV"] - dft["energy_eV"])
                / staged["atoms"],
            }
        )
    return rows


#: one GPAW single point of the campaign's Na 2-layer cell (34 atoms), for the MPI ratio
MPI_SCRIPT = """
import sys, time, warnings
warnings.filterwarnings("ignore")
from alkali_layers.mpi import init_mpi
init_mpi()
from ase.parallel import parprint
from alkali_layers.builders import bilayer_graphene
from alkali_layers.engines import PRESETS
from alkali_layers.engines.gpaw import gpaw_calculator
atoms = bilayer_graphene("Na", 2, "AA", packing="fcc", max_strain=0.02)
calc, _ = gpaw_calculator(PRESETS["fast"], atoms)
atoms.calc = calc
t = time.perf_counter()
atoms.get_potential_energy()
parprint(f"WALL {time.perf_counter() - t:.2f} ATOMS {len(atoms)}")
"""


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **MPI_ENV}
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def mpi_ratio() -> dict:
    """Wall time of the same GPAW single point on 1 and on 2 ranks, back to back."""
    walls, atoms = {}, 0
    for ranks in (1, 2):
        cmd = [sys.executable, "-c", MPI_SCRIPT]
        if ranks > 1:
            cmd = ["mpiexec", "-n", str(ranks)] + cmd
        fields = _run(cmd).split("WALL")[-1].split()
        walls[ranks], atoms = float(fields[0]), int(fields[2])
        print(
            f"Na-2L-AA single point, {ranks} rank(s): {walls[ranks]:.1f} s", flush=True
        )
    return {
        "model": "Na-2L-AA",
        "atoms": atoms,
        "single_point_s": walls,
        "speedup_2_ranks": round(walls[1] / walls[2], 2),
    }


def _ratio_text(ratio: float, what: str, fewer: str = "fewer") -> str:
    """DFT-only / staged cost as words: which way is cheaper, and by how much."""
    if ratio >= 1.0:
        return f"**{ratio:.2f}x {fewer} {what}** with the ML pre-relaxation"
    return f"**{1 / ratio:.2f}x more {what}** with the ML pre-relaxation"


def report(
    rows: list[dict], mpi: dict | None, ml: MLIPSettings, name: str = "staged_dft"
) -> None:
    """results/<name>.json and .md from the measured rows (``mpi``: None if not run)."""
    scf_staged = sum(r["staged"]["scf_iterations"] for r in rows)
    scf_dft = sum(r["dft_only"]["scf_iterations"] for r in rows)
    wall_staged = sum(r["staged"]["wall_s"] for r in rows)
    wall_dft = sum(r["dft_only"]["wall_s"] for r in rows)
    ranks = sorted({r[w]["ranks"] for r in rows for w in ("staged", "dft_only")})
    result = {
        "settings": vars(PRESETS["fast"]),
        "prerelax": ml.describe(),
        "prerelax_settings_hash": ml.settings_hash(),
        "fmax_eV_A": RELAX.fmax_eV_A,
        "ranks": ranks,
        "models": rows,
        "scf_iterations": {
            "staged": scf_staged,
            "dft_only": scf_dft,
            "ratio": round(scf_dft / scf_staged, 2),
        },
        "wall_s": {
            "staged": wall_staged,
            "dft_only": wall_dft,
            "ratio": round(wall_dft / wall_staged, 2),
        },
        "mpi": mpi,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps(result, indent=1, default=str) + "\n"
    )
    max_de = max(abs(r["dE_meV_per_atom"]) for r in rows)
    lines = [
        "# Staged ML -> DFT vs DFT-only relaxation",
        "",
        f"GPAW fast preset ({PRESETS['fast'].describe()}) for relaxation and final "
        f"single point, fmax {RELAX.fmax_eV_A} eV/A, "
        f"{'/'.join(map(str, ranks))} MPI rank(s); the staged way's ML pre-relaxation "
        f"({ml.describe()}) is included in its wall time.",
        "",
        "| model | atoms | SCF staged | SCF DFT-only | wall staged (s) | "
        "wall DFT-only (s) | DFT steps staged | DFT steps DFT-only | "
        "E staged - E DFT-only (meV/atom) |",
        "|" + "---|" * 9,
    ]
    for r in rows:
        s, d = r["staged"], r["dft_only"]
        lines.append(
            f"| {r['model']} | {r['atoms']} | {s['scf_iterations']} | "
            f"{d['scf_iterations']} | {s['wall_s']:.0f} | {d['wall_s']:.0f} | "
            f"{s['dft_steps']} | {d['dft_steps']} | {r['dE_meV_per_atom']:+.2f} |"
        )
    lines += [
        "",
        f"Total SCF iterations: staged {scf_staged}, DFT-only {scf_dft}: "
        + _ratio_text(scf_dft / scf_staged, "SCF iterations")
        + "; wall time: "
        + _ratio_text(wall_dft / wall_staged, "wall time", "less")
        + f". Final energies agree within {max_de:.2f} meV/atom.",
    ]
    if mpi is not None:
        lines += [
            "",
            f"MPI: one GPAW single point of {mpi['model']} ({mpi['atoms']} atoms, "
            f"fast preset): {mpi['single_point_s'][1]:.1f} s on 1 rank, "
            f"{mpi['single_point_s'][2]:.1f} s on 2 ranks: "
            f"**{mpi['speedup_2_ranks']:.2f}x**.",
        ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated, from {', '.join(MODELS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--ranks", type=int, default=2, help="MPI ranks of the relaxations"
    )
    parser.add_argument(
        "--worker", action="store_true", help="internal: run the relaxations here"
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="only rewrite results/<name>.{json,md} from the checkpoints (and the "
        "MPI timing already in results/staged_dft.json for the default name)",
    )
    parser.add_argument(
        "--finetuned",
        metavar="FINETUNE_JSON",
        help="pre-relax with this fine-tuned checkpoint (the finetune.json of "
        "`alkali-layers finetune`) instead of 7net-0 + D3(BJ)",
    )
    parser.add_argument(
        "--ways",
        default=",".join(WAYS),
        help="which relaxations to run here (default: %(default)s); run them as "
        "two processes to use one core each",
    )
    parser.add_argument(
        "--name",
        default="staged_dft",
        help="results/<name>.{json,md} (default: %(default)s); with another name "
        "the MPI timing is not measured",
    )
    args = parser.parse_args(argv)
    labels = args.models.split(",")
    unknown = [label for label in labels if label not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    ways = tuple(args.ways.split(","))
    if not set(ways) <= set(WAYS):
        parser.error(f"--ways: choose from {', '.join(WAYS)} (got {args.ways})")
    ml = ml_settings(args.finetuned)
    if args.worker:
        run_models(labels, ml, ways)
        return
    with_mpi = args.name == "staged_dft"
    if args.report:
        stored = None
        if with_mpi:
            stored = json.loads((RESULTS / "staged_dft.json").read_text())["mpi"]
            stored["single_point_s"] = {
                int(k): v for k, v in stored["single_point_s"].items()
            }
        report(collect(labels, ml), stored, ml, args.name)
        return
    cmd = [sys.executable, __file__, "--worker", "--models", args.models]
    cmd += ["--ways", args.ways]
    if args.finetuned:
        cmd += ["--finetuned", args.finetuned]
    if args.ranks > 1:
        cmd = ["mpiexec", "-n", str(args.ranks)] + cmd
    # the worker's progress goes straight to this terminal
    subprocess.run(cmd, check=True, env={**os.environ, **MPI_ENV})
    if set(ways) != set(WAYS):
        print("run the other way too, then --report writes the comparison")
        return
    report(collect(labels, ml), mpi_ratio() if with_mpi else None, ml, args.name)


if __name__ == "__main__":
    main()
