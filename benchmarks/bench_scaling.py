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
    python benchmarks/bench_scaling.py --device cuda --sizes 100 500 1000 2000 \
        5000 10000 20000 --steps 5 --out benchmarks/results/scaling_gpu
    python benchmarks/bench_scaling.py --device cuda --dispersion-backend torch ...

Writes ``results/scaling.json`` and ``results/scaling.md``.

``--compare-d3`` times only the dispersion, both implementations of D3(BJ) on the
same models (the ``dftd3`` package on the CPU, ``torch-dftd`` on ``--device``;
energy, forces and stress per call, and their largest differences), and writes
``results/d3_backends_<device>.{json,md}``::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scaling.py --compare-d3 \
        --sizes 100 500
    python benchmarks/bench_scaling.py --compare-d3 --device cuda \
        --sizes 100 500 1000 2000 5000 10000
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
    10000: ([0.6, 1.0, 1.5, 2.0], (23, 14)),  # --device cuda
    20000: ([0.6, 1.0, 1.5, 2.0], (32, 20)),  # --device cuda
}
#: sizes run by default (the larger ones are for a GPU)
CPU_SIZES = (100, 500, 1000, 2000, 5000)


def model(target: int):
    from alkali_layers.builders import fill_pore, pore_assembly

    widths, size = MODELS[target]
    atoms = pore_assembly(widths, size=size)
    # Na in pore 0; up to 4.4 % strain at these sizes (the same models as measured)
    return fill_pore(atoms, "Na", mode="sandwich", pore_index=0, max_strain=0.05)


def peak_rss_GB() -> float:
    """Peak resident memory of this process so far (GB; Linux reports kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def peak_gpu_GB() -> float | None:
    """Peak GPU memory held by torch since the last reset (GB), None on CPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 1e9


def reset_gpu_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


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


def component_seconds(atoms, calc) -> dict[str, float]:
    """One call of each part of a summed calculator (7net-0, D3), timed alone."""
    mixer = getattr(calc, "mixer", None)
    if mixer is None:
        return {}
    out = {}
    for part in mixer.calcs:
        part.reset()
        probe = atoms.copy()
        probe.calc = part
        t = time.perf_counter()
        probe.get_forces()
        out[type(part).__name__] = time.perf_counter() - t
    return out


def measure(target: int, calc, steps: int) -> dict:
    from alkali_layers.calculators.relax import RelaxSettings, relax

    atoms = model(target)
    reset_gpu_peak()
    rng = np.random.default_rng(0)
    atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
    bare = atoms.copy()
    bare.calc = calc
    t = time.perf_counter()
    bare.get_forces()
    t_bare = time.perf_counter() - t
    parts = component_seconds(atoms, calc)
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
        **{f"bare_{name}_s": round(sec, 3) for name, sec in parts.items()},
        relax_wall_s=round(wall, 3),
        optimizer_steps=result.n_steps,
        force_calls=timer.calls,
        calc_s_per_call=round(per_call, 3),
        overhead_s=round(overhead, 3),
        overhead_s_per_call=round(overhead / max(timer.calls, 1), 4),
        overhead_fraction=round(overhead / max(timer.calls, 1) / per_call, 4),
        peak_rss_GB=round(peak_rss_GB(), 2),
        peak_gpu_GB=None if peak_gpu_GB() is None else round(peak_gpu_GB(), 2),
    )


def split(row: dict) -> str:
    ml = row.get("bare_SevenNetCalculator_s")
    d3 = row.get("bare_DFTD3_s", row.get("bare_TorchD3_s"))
    return "-" if ml is None or d3 is None else f"{ml} / {d3}"


def describe_device(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"CPU, 1 torch thread (torch {torch.__version__})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", nargs="*", type=int, default=list(CPU_SIZES))
    p.add_argument("--steps", type=int, default=1)
    p.add_argument(
        "--engine",
        default="mlip",
        choices=("mlip", "lj"),
        help="lj: a cheap Lennard-Jones calculator, to measure the toolkit's own "
        "overhead at sizes where 7net-0 does not fit in memory",
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    p.add_argument(
        "--dispersion-backend",
        default="dftd3",
        choices=("dftd3", "torch"),
        help="D3 implementation of the engine (MLIPSettings.dispersion_backend)",
    )
    p.add_argument(
        "--compare-d3",
        action="store_true",
        help="time only D3(BJ), dftd3 package (CPU) vs torch-dftd on --device",
    )
    p.add_argument("--repeats", type=int, default=2, help="--compare-d3: calls each")
    p.add_argument("--out", default=str(HERE / "results" / "scaling"))
    args = p.parse_args(argv)
    if args.compare_d3:
        return compare_d3(args)
    from alkali_layers.engines import engine_versions, make_calculator
    from alkali_layers.engines.mlip_memory import max_edges_from_env

    threads = 1 if args.device == "cpu" else None
    if args.engine == "lj":
        from ase.calculators.lj import LennardJones

        calc = LennardJones(sigma=1.0, epsilon=0.01, rc=3.0)
        calc.alkali_settings = None
    else:
        # CPU: one torch thread (the 2-core machine); GPU: D3 uses every CPU core
        calc = make_calculator(
            "mlip",
            threads=threads,
            device=args.device,
            dispersion_backend=args.dispersion_backend,
        )
    rows = []
    for target in args.sizes:
        row = measure(target, calc, args.steps)
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(
        machine=platform.processor() or platform.machine(),
        device=describe_device(args.device),
        threads=threads,
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
        "# Relaxation step vs bare force call (7net-0 + D3(BJ))",
        "",
        f"{meta['date']}, {meta['device']}, chunked above "
        f"{max_edges_from_env()} edges.",
        "",
        "| atoms | bare call (s) | of which 7net-0 / D3 alone (s) | "
        "calc per call in relax (s) | force calls | "
        "toolkit overhead per call (s) | overhead / call | peak memory (GB) | "
        "peak GPU memory (GB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n_atoms']} | {r['bare_call_s']} | {split(r)} | "
            f"{r['calc_s_per_call']} | "
            f"{r['force_calls']} | {r['overhead_s_per_call']} | "
            f"{100 * r['overhead_fraction']:.1f} % | {r['peak_rss_GB']} | "
            f"{'-' if r['peak_gpu_GB'] is None else r['peak_gpu_GB']} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


def time_d3(atoms, calc, repeats: int) -> tuple[float, tuple]:
    """Best wall time of ``repeats`` fresh energy + forces + stress evaluations."""
    best, out = np.inf, None
    for _ in range(repeats):
        calc.reset()
        probe = atoms.copy()
        probe.calc = calc
        t = time.perf_counter()
        out = (
            probe.get_potential_energy(),
            probe.get_forces(),
            probe.get_stress(),
        )
        best = min(best, time.perf_counter() - t)
    return best, out


def compare_d3(args) -> int:
    """D3(BJ) alone: the ``dftd3`` package vs ``torch-dftd`` on ``args.device``."""
    import torch

    from alkali_layers.engines import engine_versions
    from alkali_layers.engines.dispersion import dispersion_calculator

    if args.device == "cpu":
        torch.set_num_threads(1)
    rows = []
    for target in args.sizes:
        atoms = model(target)
        n = len(atoms)
        ref = dispersion_calculator("d3bj", "PBE", backend="dftd3")
        t_ref, (e_ref, f_ref, s_ref) = time_d3(atoms, ref, args.repeats)
        reset_gpu_peak()
        calc = dispersion_calculator("d3bj", "PBE", backend="torch", device=args.device)
        time_d3(atoms, calc, 1)  # warm-up (device transfers, first kernels)
        t_torch, (e, f, s) = time_d3(atoms, calc, args.repeats)
        row = dict(
            target=target,
            n_atoms=n,
            dftd3_s=round(t_ref, 4),
            torch_s=round(t_torch, 4),
            torch_over_dftd3=round(t_torch / t_ref, 2),
            dE_eV_per_atom=float(f"{abs(e - e_ref) / n:.2e}"),
            dF_max_eV_A=float(f"{np.abs(f - f_ref).max():.2e}"),
            dS_max_eV_A3=float(f"{np.abs(s - s_ref).max():.2e}"),
            peak_rss_GB=round(peak_rss_GB(), 2),
            peak_gpu_GB=None if peak_gpu_GB() is None else round(peak_gpu_GB(), 2),
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
    meta = dict(
        device=describe_device(args.device),
        cpu=platform.processor() or platform.machine(),
        versions=engine_versions(),
        date=time.strftime("%Y-%m-%d"),
    )
    device = "gpu" if args.device.startswith("cuda") else "cpu"
    out = HERE / "results" / f"d3_backends_{device}"
    out.with_suffix(".json").write_text(
        json.dumps(dict(meta=meta, rows=rows), indent=1) + "\n"
    )
    lines = [
        f"# D3(BJ) alone: dftd3 package (CPU) vs torch-dftd ({meta['device']})",
        "",
        f"{meta['date']}; energy + forces + stress, best of {args.repeats} calls; "
        "the closed-pore models of `scaling.md`.",
        "",
        "| atoms | dftd3 (s) | torch-dftd (s) | torch / dftd3 | dE (eV/atom) | "
        "max dF (eV/A) | max dS (eV/A^3) | peak memory (GB) | peak GPU memory (GB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n_atoms']} | {r['dftd3_s']} | {r['torch_s']} | "
            f"{r['torch_over_dftd3']} | {r['dE_eV_per_atom']} | {r['dF_max_eV_A']} | "
            f"{r['dS_max_eV_A3']} | {r['peak_rss_GB']} | "
            f"{'-' if r['peak_gpu_GB'] is None else r['peak_gpu_GB']} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
