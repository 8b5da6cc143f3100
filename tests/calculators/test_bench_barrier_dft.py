"""The pairing and goal check of benchmarks/bench_barrier_dft.py (no GPAW: rows as
the campaign database gives them)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_barrier_dft.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_barrier_dft", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(start, band_calls, fwd, converged=True, total=None, **extra):
    return {
        "pathway": "graphene_hop",
        "metal": "Na",
        "spacing_A": None,
        "gpaw_band_start": start,
        "band_force_calls_gpaw": band_calls,
        "force_calls_gpaw": band_calls if total is None else total,
        "band_converged": converged,
        "barrier_fwd_eV": fwd if converged else None,
        **extra,
    }


def test_pairs_compare_band_calls_and_barriers(bench):
    rows = [
        row("ml", 12, 0.105, total=40, ml_barrier_fwd_eV=0.01),
        row("idpp", 45, 0.110),
        row("ml", 9, 0.2) | {"pathway": "bulk_vacancy_hop"},  # no DFT-only twin
        {"pathway": "graphene_hop", "metal": "Li"},  # an ML-only row
    ]
    (pair,) = bench.pair_rows(rows)
    assert pair["band_gpaw_calls_ml_start"] == 12
    assert pair["band_gpaw_calls_dft_only"] == 45
    assert pair["calls_ratio"] == pytest.approx(3.75)
    assert pair["endpoint_gpaw_calls"] == 28
    assert pair["barrier_difference_meV"] == pytest.approx(-5.0)
    assert pair["goal_met"]
    text = bench.markdown([pair], ["dft_only-bulk_vacancy_hop-Na"])
    assert "| graphene_hop | Na |" in text and "3.75" in text
    assert "Not finished yet: dft_only-bulk_vacancy_hop-Na." in text


def test_goal_missed_by_calls_or_barrier_or_an_unconverged_band(bench):
    few = bench.pair_rows([row("ml", 20, 0.1), row("idpp", 45, 0.1)])[0]
    assert few["calls_ratio"] == pytest.approx(2.25) and not few["goal_met"]
    far = bench.pair_rows([row("ml", 10, 0.15), row("idpp", 45, 0.1)])[0]
    assert far["barrier_difference_meV"] == pytest.approx(50.0)
    assert not far["goal_met"]
    lost = bench.pair_rows([row("ml", 10, 0.1), row("idpp", 100, 0, converged=False)])
    assert lost[0]["barrier_difference_meV"] is None and not lost[0]["goal_met"]
