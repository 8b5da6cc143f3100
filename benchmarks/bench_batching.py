"""Benchmark: several bilayer models in one SevenNet forward pass vs one by one.

Issue 17 names batching several small models per force call as a lever for the
40-model table (93 % of its time is force calls).  This measures it directly on the
fast engine's network (7net-0, no D3: the network is what would be batched), on
CPU with one torch thread (one worker of the table):

* **one by one**: the ASE calculator on each model in turn (what a relaxation does);
* **batched**: the same graphs collated into one ``torch_geometric`` batch and
  evaluated by a copy of the model in SevenNet's batch mode
  (``set_is_batch_data(True)``, as ``sevenn.scripts.inference`` does), forces and
  stress included.

Both evaluate the same structures (each rattled by 0.001 A per repeat, so that
nothing is cached), interleaved, ``--repeats`` times; the energies of the two ways
are compared too (they must agree).  Writes ``results/batching.md`` and
``results/batching.json``::

    .venv/bin/python benchmarks/bench_batching.py            # ~1 min
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
import warnings

from results_io import aa_bilayers, write_results

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: the bilayer table's models of one stacking (13-121 atoms), metal x layers
MODELS = [(m, n) for m in ("Li", "Na", "K", "Rb", "Cs") for n in (1, 2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import torch
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.calculator import SevenNetCalculator
    from sevenn.train.dataload import unlabeled_atoms_to_graph
    from torch_geometric.loader.dataloader import Collater

    torch.set_num_threads(1)
    calc = SevenNetCalculator("7net-0", device="cpu")
    batched = copy.deepcopy(calc.model)
    batched.set_is_batch_data(True)
    collate = Collater([], [])
    structures = aa_bilayers(MODELS)

    def graph(atoms):
        raw = unlabeled_atoms_to_graph(atoms, calc.cutoff, with_shift=False)
        return AtomGraphData.from_numpy_dict(raw)

    for atoms in structures:  # warm-up (first calls compile/allocate)
        atoms.calc = calc
        atoms.get_forces()
    collate_out = batched(collate([graph(a) for a in structures]))
    one_s, batch_s, max_de = [], [], 0.0
    for rep in range(args.repeats):
        for atoms in structures:
            atoms.rattle(0.001, seed=rep)
        t0 = time.perf_counter()
        single = [float(a.get_potential_energy()) for a in structures]
        for a in structures:
            a.get_forces()
        one_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        collate_out = batched(collate([graph(a) for a in structures]))
        batch_s.append(time.perf_counter() - t0)
        energies = collate_out["inferred_total_energy"].detach().numpy()
        max_de = max(max_de, float(max(abs(energies - single))))
    one, batch = statistics.median(one_s), statistics.median(batch_s)
    result = {
        "models": [len(a) for a in structures],
        "repeats": args.repeats,
        "one_by_one_s": round(one, 3),
        "batched_s": round(batch, 3),
        "speedup_batched": round(one / batch, 2),
        "max_energy_difference_eV": max_de,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    sizes = ", ".join(map(str, result["models"]))
    text = "\n".join(
        [
            "# SevenNet 7net-0: models batched in one forward pass vs one by one",
            "",
            f"{len(structures)} AA bilayer models ({sizes}"
            " atoms), energy + forces + stress, CPU, 1 torch thread, median of "
            f"{args.repeats} repeats measured interleaved in one run.",
            "",
            "| way | wall time (s) |",
            "|---|---|",
            f"| one by one (ASE calculator) | {result['one_by_one_s']} |",
            f"| one batch | {result['batched_s']} |",
            "",
            f"Speed-up of batching: **{result['speedup_batched']}x** (largest energy "
            f"difference between the ways {max_de:.1e} eV).",
            "",
        ]
    )
    write_results("batching", result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
