"""Benchmark: GPAW force calls of the ML -> DFT band against a DFT-only band.

Both bands are tasks of one campaign, ``runs/barriers_gpaw`` (same path, same GPAW
settings, same endpoints, same NEB settings and fmax):

* **ML -> DFT** (``gpaw_band_start = "ml"``, the default): the band is converged
  with the fast engine (7net-0 + D3(BJ)), the endpoints are relaxed with GPAW and
  the GPAW band starts from the converged ML band;
* **DFT only** (``gpaw_band_start = "idpp"``): the GPAW band starts from the IDPP
  path between the same GPAW endpoints (copied from the ML -> DFT task), no ML.

Compared: the GPAW force calls of the band itself (endpoint relaxations excluded:
they are the same in both), the GPAW band steps, and the barriers (the goal is
>= 3x fewer DFT force calls with the barrier within 20 meV).  The campaign is the
only runner (content-addressed, checkpointed tasks: a rerun resumes); this script
runs it when asked and then reads its database::

    .venv/bin/python benchmarks/bench_barrier_dft.py            # table from the DB
    GPAW_MPI_BACKEND=cgpaw .venv/bin/python benchmarks/bench_barrier_dft.py --run

Writes ``results/barrier_dft.md`` and ``results/barrier_dft.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
CAMPAIGN = ROOT / "runs" / "barriers_gpaw"
#: the goal of issue 19: DFT force calls saved, barrier agreement (eV)
GOAL_RATIO = 3.0
GOAL_BARRIER_EV = 0.020


def _mev(value: float | None) -> float | None:
    """eV rounded to meV (None stays None)."""
    return None if value is None else round(float(value), 3)


def pair_rows(rows: list[dict]) -> list[dict]:
    """One comparison per path that has both a finished ML -> DFT and a finished
    DFT-only band (rows of :meth:`Campaign.model_rows`)."""
    by_path: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        if "band_force_calls_gpaw" not in row:  # ML-only rows, older results
            continue
        path = (row.get("pathway"), row.get("metal"), row.get("spacing_A"))
        by_path.setdefault(path, {})[row.get("gpaw_band_start", "ml")] = row
    out = []
    for (pathway, metal, spacing), pair in sorted(by_path.items(), key=str):
        if set(pair) != {"ml", "idpp"}:
            continue
        ml, only = pair["ml"], pair["idpp"]
        calls_ml = int(ml["band_force_calls_gpaw"])
        calls_only = int(only["band_force_calls_gpaw"])
        both = bool(ml.get("band_converged")) and bool(only.get("band_converged"))
        fwd_ml, fwd_only = ml.get("barrier_fwd_eV"), only.get("barrier_fwd_eV")
        diff = fwd_ml - fwd_only if both else None
        diff_meV = None if diff is None else round(1e3 * diff, 1)
        ratio = calls_only / calls_ml if calls_ml else None
        out.append(
            {
                "pathway": pathway,
                "metal": metal,
                "spacing_A": spacing,
                "n_atoms": ml.get("n_atoms"),
                "n_images": ml.get("n_images"),
                "band_gpaw_calls_ml_start": calls_ml,
                "band_gpaw_calls_dft_only": calls_only,
                "calls_ratio": None if ratio is None else round(ratio, 2),
                "band_steps_ml_start": ml.get("band_steps_gpaw"),
                "band_steps_dft_only": only.get("band_steps_gpaw"),
                "endpoint_gpaw_calls": int(ml.get("force_calls_gpaw", 0)) - calls_ml,
                "ml_calls": ml.get("force_calls_mlip"),
                "barrier_fwd_ml_start_eV": _mev(fwd_ml),
                "barrier_fwd_dft_only_eV": _mev(fwd_only),
                "barrier_ml_band_eV": _mev(ml.get("ml_barrier_fwd_eV")),
                "barrier_difference_meV": diff_meV,
                "both_converged": both,
                "goal_met": bool(
                    both
                    and ratio is not None
                    and ratio >= GOAL_RATIO
                    and abs(diff) <= GOAL_BARRIER_EV
                ),
            }
        )
    return out


def _path(p: dict) -> str:
    return p["pathway"] + (f" {p['spacing_A']} A" if p["spacing_A"] else "")


def markdown(pairs: list[dict], pending: list[str]) -> str:
    cols = [
        ("path", _path),
        ("metal", lambda p: p["metal"]),
        ("atoms", lambda p: p["n_atoms"]),
        ("GPAW band calls, ML->DFT", lambda p: p["band_gpaw_calls_ml_start"]),
        ("GPAW band calls, DFT only", lambda p: p["band_gpaw_calls_dft_only"]),
        ("ratio", lambda p: p["calls_ratio"]),
        ("GPAW endpoint calls (both)", lambda p: p["endpoint_gpaw_calls"]),
        ("barrier ML->DFT (eV)", lambda p: p["barrier_fwd_ml_start_eV"]),
        ("barrier DFT only (eV)", lambda p: p["barrier_fwd_dft_only_eV"]),
        ("difference (meV)", lambda p: p["barrier_difference_meV"]),
        ("ML band barrier (eV)", lambda p: p["barrier_ml_band_eV"]),
        ("goal met", lambda p: p["goal_met"]),
    ]
    lines = [
        "# ML -> DFT band vs DFT-only band (GPAW force calls)",
        "",
        "Campaign `runs/barriers_gpaw` (vdW-optPBE, 350 eV, k-point density 2, 1 MPI "
        "rank; CI-NEB, improved tangent, the same fmax for both bands).  Band calls "
        "exclude the endpoint relaxations, which both bands share.  Goal (issue "
        f"19): ratio >= {GOAL_RATIO:g} with the barrier within "
        f"{1e3 * GOAL_BARRIER_EV:g} meV.",
        "",
        "| " + " | ".join(c for c, _ in cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for p in pairs:
        cells = ["" if f(p) is None else str(f(p)) for _, f in cols]
        lines.append("| " + " | ".join(cells) + " |")
    if not pairs:
        lines.append(
            "| (no path has both bands finished yet) |" + " |" * (len(cols) - 1)
        )
    if pending:
        lines += ["", "Not finished yet: " + ", ".join(pending) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        action="store_true",
        help="run (resume) the campaign first: alkali-layers run runs/barriers_gpaw",
    )
    args = parser.parse_args(argv)
    if args.run:
        cli = Path(sys.executable).with_name("alkali-layers")
        subprocess.run([str(cli), "run", str(CAMPAIGN), "--workers", "1"], check=True)
    from results_io import write_results

    from alkali_layers.campaigns.campaign import Campaign

    campaign = Campaign(CAMPAIGN, stream=False)
    rows, _ = campaign.model_rows()
    pairs = pair_rows(rows)
    done = {e.label for e in campaign.entries() if campaign.store.find(e.key)}
    pending = [e.label for e in campaign.entries() if e.label not in done]
    write_results(
        "barrier_dft", {"pairs": pairs, "pending": pending}, markdown(pairs, pending)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
