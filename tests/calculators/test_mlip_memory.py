"""Memory-bounded SevenNet evaluation: chunked edges give the unchunked results."""

import numpy as np
import pytest

from alkali_layers.builders import bilayer_graphene
from alkali_layers.engines import MLIPSettings, make_calculator
from alkali_layers.engines.mlip_memory import (
    DEFAULT_MAX_EDGES,
    ChunkedConvolution,
    bound_memory,
    max_edges_from_env,
)


def _model():
    calc = make_calculator("mlip", MLIPSettings(dispersion="none"))
    return calc, calc.model


def _wrappers(model):
    return [m for m in model.modules() if isinstance(m, ChunkedConvolution)]


def test_engine_models_are_wrapped_and_wrapping_is_idempotent():
    _, model = _model()
    wrappers = _wrappers(model)
    assert len(wrappers) == 5  # 7net-0 has five message-passing layers
    assert bound_memory(model, 123) == 5
    assert len(_wrappers(model)) == 5 and {w.max_edges for w in wrappers} == {123}
    bound_memory(model, DEFAULT_MAX_EDGES)


def test_chunked_forces_equal_unchunked_forces():
    calc, model = _model()
    atoms = bilayer_graphene("Na", 2, "AA")
    atoms.rattle(0.05, seed=3)
    try:
        bound_memory(model, 10**9)  # one chunk: the unmodified path
        atoms.calc = calc
        e_plain = atoms.get_potential_energy()
        f_plain = atoms.get_forces().copy()
        s_plain = atoms.get_stress().copy()
        bound_memory(model, 250)  # a few hundred edges per chunk: many chunks
        calc.reset()
        e_chunk = atoms.get_potential_energy()
        f_chunk = atoms.get_forces()
        s_chunk = atoms.get_stress()
    finally:
        bound_memory(model, DEFAULT_MAX_EDGES)
    assert all(w.chunked_calls > 0 for w in _wrappers(model))
    assert abs(e_chunk - e_plain) < 1e-4 * len(atoms)
    np.testing.assert_allclose(f_chunk, f_plain, atol=1e-4)
    np.testing.assert_allclose(s_chunk, s_plain, atol=1e-5)


def test_chunk_size_from_environment(monkeypatch):
    monkeypatch.delenv("ALKALI_LAYERS_MLIP_MAX_EDGES", raising=False)
    assert max_edges_from_env() == DEFAULT_MAX_EDGES
    monkeypatch.setenv("ALKALI_LAYERS_MLIP_MAX_EDGES", "5000")
    assert max_edges_from_env() == 5000
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("ALKALI_LAYERS_MLIP_MAX_EDGES", bad)
        with pytest.raises(ValueError, match="positive integer"):
            max_edges_from_env()
    with pytest.raises(ValueError, match="positive"):
        ChunkedConvolution(_model()[1], 0)
