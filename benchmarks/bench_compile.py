"""Benchmark: the fast engine's network through ``torch.compile`` against the eager
network, per force call on the bilayer table's models.

Issue 17 asks for the 40-model table in <= 5 min on 2 cores (9.4 min today, 93 %
of it in force calls).  Fewer steps did not come from ASE's optimizers and
batching gains nothing on CPU (``bench_optimizer.py``, ``bench_batching.py``); this
measures the cost of each call instead.  Both calculators come from
``make_calculator`` (7net-0 + D3(BJ), one torch thread: one table worker); the
second one's network is replaced by ``torch.compile(network, dynamic=True)``
(inductor).  They evaluate the same structures interleaved, each rattled by 0.001 A
per repeat; the one-off compilation (first calls) is timed apart.  Writes
``results/compile.md`` and ``results/compile.json``::

    .venv/bin/python benchmarks/bench_compile.py     # ~10 min with a cold cache

Not an engine option: inside a 2-worker campaign the compiled network crashed the
run (inductor code-generation errors, then ``free(): invalid next size``); see
``README.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

from results_io import aa_bilayers, write_results

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: the bilayer table's AA models of 1-3 layers (13-121 atoms)
MODELS = [(m, n) for m in ("Li", "Na", "K", "Rb", "Cs") for n in (1, 2, 3)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from alkali_layers.engines import make_calculator

    structures = aa_bilayers(MODELS)
    import torch

    eager = make_calculator("mlip", threads=1)
    compiled = make_calculator("mlip", threads=1)
    network = compiled.mixer.calcs[0]  # SumCalculator of SevenNet and D3
    network.model = torch.compile(network.model, dynamic=True)

    def call(calc, atoms) -> float:
        work = atoms.copy()
        work.calc = calc
        energy = float(work.get_potential_energy())
        work.get_forces()
        return energy

    t0 = time.perf_counter()
    for atoms in structures:  # compilation happens on these first calls
        call(compiled, atoms)
    first_compiled = time.perf_counter() - t0
    t0 = time.perf_counter()
    for atoms in structures:
        call(eager, atoms)
    first_eager = time.perf_counter() - t0
    times = {"eager": [], "compiled": []}
    max_de = 0.0
    for rep in range(args.repeats):
        for atoms in structures:
            atoms.rattle(0.001, seed=rep)
        for name, calc in (("eager", eager), ("compiled", compiled)):
            t0 = time.perf_counter()
            energies = [call(calc, a) for a in structures]
            times[name].append(time.perf_counter() - t0)
            if name == "eager":
                reference = energies
        max_de = max(
            max_de, max(abs(a - b) for a, b in zip(energies, reference, strict=True))
        )
    eager_s, compiled_s = (statistics.median(times[k]) for k in ("eager", "compiled"))
    result = {
        "atoms": [len(a) for a in structures],
        "repeats": args.repeats,
        "eager_s": round(eager_s, 2),
        "compiled_s": round(compiled_s, 2),
        "speedup": round(eager_s / compiled_s, 2),
        "first_calls_eager_s": round(first_eager, 1),
        "first_calls_compiled_s": round(first_compiled, 1),
        "max_energy_difference_eV": max_de,
        "load_average": os.getloadavg(),
    }
    sizes = ", ".join(map(str, result["atoms"]))
    text = "\n".join(
        [
            "# 7net-0 + D3(BJ): torch.compile vs eager, per force call",
            "",
            f"{len(structures)} AA bilayer models ({sizes} atoms), energy + forces, "
            f"one torch thread, median of {args.repeats} passes interleaved in one "
            f"run (load average at the end {result['load_average'][0]:.1f}).",
            "",
            "| way | one pass over the models (s) | first pass (s) |",
            "|---|---|---|",
            f"| eager | {result['eager_s']} | {result['first_calls_eager_s']} |",
            f"| compiled | {result['compiled_s']} | "
            f"{result['first_calls_compiled_s']} (compilation) |",
            "",
            f"Speed-up per force call: **{result['speedup']}x**; largest energy "
            f"difference {max_de:.1e} eV.",
            "",
        ]
    )
    write_results("compile", result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
