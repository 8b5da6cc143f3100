"""Shared fixtures: one ML calculator per test session (loading 7net-0 takes ~1 s)."""

import os

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def mlip():
    from alkali_layers.engines import make_calculator

    return make_calculator("mlip")
