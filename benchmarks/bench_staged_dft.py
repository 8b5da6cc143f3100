"""Benchmark: staged ML -> DFT relaxation vs DFT-only relaxation, and MPI scaling.

For the same models, relaxed to the same final fmax with the same GPAW settings:

* **staged**: SevenNet 7net-0 + D3(BJ) pre-relaxation, then GPAW relaxation, then
  the GPAW single point;
* **DFT-only**: GPAW relaxation from the builder geometry, then the same single
  point.

Reported: total SCF iterations and wall time of each way, their ratios, and the
difference of the final energies (meV/atom).  Then the wall time of one GPAW single
point on 1 and on 2 MPI ranks (run as subprocesses, side by side).

    .venv/bin/python benchmarks/bench_staged_dft.py               # ~1.5 h on 2 cores
    .venv/bin/python benchmarks/bench_staged_dft.py --models Li-2L,Na-3L --ranks 2

The relaxations run as one ``mpiexec -n RANKS`` worker (both ways on the same
ranks).  Every finished (model, way) pair is checkpointed in
``results/staged_dft_runs.json`` under the settings it used, so an interrupted
benchmark resumes at the first unfinished pair (an unfinished pair restarts: its wall
time must be measured in one piece).
"""

from __future__ import annotations

import argparse
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


def _ways() -> dict:
    fast = PRESETS["fast"]
    return {
        way: DFTProtocol(final=fast, relax=fast, prerelax=prerelax)
        for way, prerelax in (("staged", MLIPSettings()), ("dft_only", None))
    }


def checkpoint_key(label: str, way: str, protocol: DFTProtocol) -> str:
    """Identity of one measurement: model, way and every setting that enters it."""
    return f"{label}/{way}/" + stable_hash(
        {"protocol": protocol.settings_hash(), "relax": vars(RELAX)}
    )


def load_checkpoints() -> dict:
    return json.loads(CHECKPOINTS.read_text()) if CHECKPOINTS.exists() else {}


def run_models(labels: list[str]) -> None:
    """Relax every model both ways (all ranks); rank 0 checkpoints each pair."""
    settings = replace(RELAX, gallery_prescan=False)
    scratch = Path(tempfile.gettempdir()) / "bench_staged_dft"
    for label in labels:
        metal, n, strain = MODELS[label]
        atoms = bilayer_graphene(metal, n, "AA", packing="fcc", max_strain=strain)
        for way, protocol in _ways().items():
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
            if world.rank == 0:
                done = load_checkpoints()
                done[key] = row
                write_json_atomic(CHECKPOINTS, done)
                print(f"{label} {way}: {row}", flush=True)
            world.barrier()


def collect(labels: list[str]) -> list[dict]:
    """Both ways of each model from the checkpoints, with their energy difference."""
    done = load_checkpoints()
    rows = []
    for label in labels:
        out = {
            way: done[checkpoint_key(label, way, protocol)]
            for way, protocol in _ways().items()
        }
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


def _ratio_text(ratio: float, what: str) -> str:
    """DFT-only / staged cost as words: which way is cheaper, and by how much."""
    if ratio >= 1.0:
        return f"**{ratio:.2f}x fewer {what}** with the ML pre-relaxation"
    return f"**{1 / ratio:.2f}x more {what}** with the ML pre-relaxation"


def report(rows: list[dict], mpi: dict) -> None:
    """results/staged_dft.json and .md from the measured rows."""
    scf_staged = sum(r["staged"]["scf_iterations"] for r in rows)
    scf_dft = sum(r["dft_only"]["scf_iterations"] for r in rows)
    wall_staged = sum(r["staged"]["wall_s"] for r in rows)
    wall_dft = sum(r["dft_only"]["wall_s"] for r in rows)
    ranks = sorted({r[w]["ranks"] for r in rows for w in ("staged", "dft_only")})
    result = {
        "settings": vars(PRESETS["fast"]),
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
    (RESULTS / "staged_dft.json").write_text(
        json.dumps(result, indent=1, default=str) + "\n"
    )
    max_de = max(abs(r["dE_meV_per_atom"]) for r in rows)
    lines = [
        "# Staged ML -> DFT vs DFT-only relaxation",
        "",
        f"GPAW fast preset ({PRESETS['fast'].describe()}) for relaxation and final "
        f"single point, fmax {RELAX.fmax_eV_A} eV/A, "
        f"{'/'.join(map(str, ranks))} MPI rank(s); the staged way's ML pre-relaxation "
        "(7net-0 + D3(BJ)) is included in its wall time.",
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
        + _ratio_text(wall_dft / wall_staged, "time")
        + f". Final energies agree within {max_de:.2f} meV/atom.",
        "",
        f"MPI: one GPAW single point of {mpi['model']} ({mpi['atoms']} atoms, fast "
        f"preset): {mpi['single_point_s'][1]:.1f} s on 1 rank, "
        f"{mpi['single_point_s'][2]:.1f} s on 2 ranks: "
        f"**{mpi['speedup_2_ranks']:.2f}x**.",
    ]
    (RESULTS / "staged_dft.md").write_text("\n".join(lines) + "\n")
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
        help="only rewrite results/staged_dft.{json,md} from the checkpoints and the "
        "MPI timing already in results/staged_dft.json",
    )
    args = parser.parse_args(argv)
    labels = args.models.split(",")
    unknown = [label for label in labels if label not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    if args.worker:
        run_models(labels)
        return
    if args.report:
        stored = json.loads((RESULTS / "staged_dft.json").read_text())["mpi"]
        stored["single_point_s"] = {
            int(k): v for k, v in stored["single_point_s"].items()
        }
        report(collect(labels), stored)
        return
    cmd = [sys.executable, __file__, "--worker", "--models", args.models]
    if args.ranks > 1:
        cmd = ["mpiexec", "-n", str(args.ranks)] + cmd
    # the worker's progress goes straight to this terminal
    subprocess.run(cmd, check=True, env={**os.environ, **MPI_ENV})
    report(collect(labels), mpi_ratio())


if __name__ == "__main__":
    main()
