"""Time per relaxation step vs number of atoms, next to the bare calculator call.

Models: closed-pore assemblies (:func:`alkali_layers.builders.pore_assembly`) with Na
in the first pore (:func:`~alkali_layers.builders.fill_pore`), 96 to 5,257 atoms.  At
each size, :func:`alkali_layers.calculators.relax.relax` runs ``--steps`` steps
(LBFGS: ASE's BFGS keeps a dense 3N x 3N Hessian and diagonalizes it every step,
which is hopeless at 5,000 atoms) with a timer around the calculator's
``calculate``; the toolkit's overhead (geometry guards with their neighbour lists,
optimizer, bookkeeping) is the relaxation's wall time minus the time inside the
calculator, per force call, as a fraction of one force call.  One bare
``get_forces()`` call (the calculator alone) is timed separately at every size.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scaling.py
    .venv/bin/python benchmarks/bench_scaling.py --sizes 100 500   # quick

Writes ``results/scaling.json`` and ``results/scaling.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: (widths of the pores, in-plane size in rectangular cells) per target size.
MODELS = {
    100: ([1.2], (3, 3)),
    500: ([1.0], (6, 8)),
    1000: ([1.0, 1.4], (7, 8)),
    2000: ([1.0, 1.4], (10, 12)),
    5000: ([0.6, 1.0, 1.5, 2.0], (16, 10)),
}


def model(target: int):
    from alkali_layers.builders import fill_pore, pore_assembly

    widths, size = MODELS[target]
    atoms = pore_assembly(widths, size=size)
    return fill_pore(atoms, "Na", mode="sandwich", pore_index=0)  # Na in pore 0


def peak_rss_GB() -> float:
    """Peak resident memory of this process so far (GB; Linux reports kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


class Timed:
    """Wraps a calculator's ``calculate`` and accumulates the time spent in it."""

    def __init__(self, calc):
        self.calc, self.seconds, self.calls = calc, 0.0, 0
        self._inner = calc.calculate

        def calculate(*args, **kwargs):
            t = time.perf_counter()
            try:
                return self._inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        calc.calculate = calculate

    def restore(self) -> None:
        self.calc.calculate = self._inner


def measure(target: int, calc, steps: int) -> dict:
    from alkali_layers.calculators.relax import RelaxSettings, relax

    atoms = model(target)
    rng = np.random.default_rng(0)
    atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
    bare = atoms.copy()
    bare.calc = calc
    t = time.perf_counter()
    bare.get_forces()
    t_bare = time.perf_counter() - t
    timer = Timed(calc)
    settings = RelaxSettings(
        fmax_eV_A=1e-6, max_steps=steps, optimizer="LBFGS", gallery_prescan=False
    )
    t = time.perf_counter()
    try:
        result = relax(atoms, calc, settings)
    finally:
        timer.restore()
    wall = time.perf_counter() - t
    overhead = wall - timer.seconds
    per_call = timer.seconds / max(timer.calls, 1)
    return dict(
        target=target,
        n_atoms=len(atoms),
        bare_call_s=round(t_bare, 3),
        relax_wall_s=round(wall, 3),
        optimizer_steps=result.n_steps,
        force_calls=timer.calls,
        calc_s_per_call=round(per_call, 3),
        overhead_s=round(overhead, 3),
        overhead_s_per_call=round(overhead / max(timer.calls, 1), 4),
        overhead_fraction=round(overhead / max(timer.calls, 1) / per_call, 4),
        peak_rss_GB=round(peak_rss_GB(), 2),
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", nargs="*", type=int, default=sorted(MODELS))
    p.add_argument("--steps", type=int, default=1)
    p.add_argument(
        "--engine",
        default="mlip",
        choices=("mlip", "lj"),
        help="lj: a cheap Lennard-Jones calculator, to measure the toolkit's own "
        "overhead at sizes where 7net-0 does not fit in memory",
    )
    p.add_argument("--out", default=str(HERE / "results" / "scaling"))
    args = p.parse_args(argv)
    from alkali_layers.calculators.engines import engine_versions, make_calculator

    if args.engine == "lj":
        from ase.calculators.lj import LennardJones

        calc = LennardJones(sigma=1.0, epsilon=0.01, rc=3.0)
        calc.alkali_settings = None
    else:
        calc = make_calculator("mlip", threads=1)
    rows = []
    for target in args.sizes:
        row = measure(target, calc, args.steps)
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(
        machine=platform.processor() or platform.machine(),
        threads=1,
        engine="LennardJones (overhead only)"
        if args.engine == "lj"
        else calc.alkali_settings.describe(),
        versions=engine_versions(),
        date=time.strftime("%Y-%m-%d"),
    )
    out.with_suffix(".json").write_text(
        json.dumps(dict(meta=meta, rows=rows), indent=1)
    )
    lines = [
        "# Relaxation step vs bare force call (7net-0 + D3(BJ), 1 torch thread)",
        "",
        f"{meta['date']}, 2-core development machine shared with a GPAW job.",
        "",
        "| atoms | bare call (s) | calc per call in relax (s) | force calls | "
        "toolkit overhead per call (s) | overhead / call | peak memory (GB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n_atoms']} | {r['bare_call_s']} | {r['calc_s_per_call']} | "
            f"{r['force_calls']} | {r['overhead_s_per_call']} | "
            f"{100 * r['overhead_fraction']:.1f} % | {r['peak_rss_GB']} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
