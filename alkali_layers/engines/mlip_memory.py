"""Memory-bounded evaluation of SevenNet models on large cells.

SevenNet computes forces as the gradient of the energy, so autograd keeps every
per-edge intermediate of all five message-passing layers until the backward pass.
Memory therefore grows with the number of edges: one 7net-0 force call on 1,000
diamond-density carbon atoms (~92,000 edges) peaks at 10.7 GB, and a 5,257-atom
hard-carbon assembly is killed by the OOM killer on a 23 GB machine.

:func:`bound_memory` replaces each convolution of a loaded SevenNet model by a
wrapper that, for graphs with more than ``max_edges`` edges, splits the edges into
chunks and evaluates each chunk under :func:`torch.utils.checkpoint.checkpoint`:
only the chunk inputs are kept, and the per-edge tensor-product intermediates are
recomputed one chunk at a time during the backward pass.  The messages of the chunks
are summed, so energies and forces are those of the unmodified model (to float32
round-off; the tests check 1e-4 eV/A).  Graphs with at most ``max_edges`` edges take
the unmodified path, bit for bit.

The chunk size changes memory and time, never results, so it is not part of the ML
settings' identity (:class:`~alkali_layers.engines.settings.MLIPSettings`).
"""

from __future__ import annotations

import os

import torch
from torch.utils.checkpoint import checkpoint

#: default edges per chunk (~0.1 GB of 7net-0 intermediates per layer and chunk);
#: override with the environment variable ``ALKALI_LAYERS_MLIP_MAX_EDGES``
DEFAULT_MAX_EDGES = 20_000


def max_edges_from_env() -> int:
    """Edges per chunk: ``$ALKALI_LAYERS_MLIP_MAX_EDGES`` or the default."""
    value = os.environ.get("ALKALI_LAYERS_MLIP_MAX_EDGES", "")
    if not value:
        return DEFAULT_MAX_EDGES
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(
            f"ALKALI_LAYERS_MLIP_MAX_EDGES={value!r}: expected a positive integer "
            f"(edges per chunk; default {DEFAULT_MAX_EDGES})"
        )
    return n


class ChunkedConvolution(torch.nn.Module):
    """A SevenNet ``IrrepsConvolution`` evaluated in checkpointed edge chunks.

    Parameters
    ----------
    conv
        The model's convolution module (kept as ``inner``; its weights are shared).
    max_edges
        Graphs with more edges than this are evaluated in chunks of this many edges.
    """

    def __init__(self, conv: torch.nn.Module, max_edges: int = DEFAULT_MAX_EDGES):
        super().__init__()
        if max_edges < 1:
            raise ValueError(f"max_edges must be positive, got {max_edges}")
        self.inner = conv
        self.max_edges = int(max_edges)
        self.chunked_calls = 0  # how often the chunked path ran (for tests/logs)

    def forward(self, data):
        conv = self.inner
        edge_idx = data[conv.key_edge_idx]
        n_edges = edge_idx.shape[1]
        if n_edges <= self.max_edges or conv.is_parallel:
            return conv(data)
        from sevenn.nn.convolution import message_gather

        x = data[conv.key_x]
        edge_filter = data[conv.key_filter]
        weight_input = data[conv.key_weight_input]

        def chunk(x, edge_filter, weight_input, src, dst):
            weight = conv.weight_nn(weight_input)
            message = conv.convolution(x[src], edge_filter, weight)
            return message_gather(x, dst, message)

        out = None
        for start in range(0, n_edges, self.max_edges):
            sl = slice(start, start + self.max_edges)
            part = checkpoint(
                chunk,
                x,
                edge_filter[sl],
                weight_input[sl],
                edge_idx[1, sl],
                edge_idx[0, sl],
                use_reentrant=False,
            )
            out = part if out is None else out + part
        self.chunked_calls += 1
        data[conv.key_x] = out.div(conv.denominator)
        return data


def bound_memory(model: torch.nn.Module, max_edges: int | None = None) -> int:
    """Wrap every convolution of a SevenNet model in :class:`ChunkedConvolution`.

    Idempotent (an already wrapped model keeps its wrappers and gets the new chunk
    size).  Returns the number of convolutions wrapped or updated; 0 means the model
    has no recognised convolution (a newer SevenNet layout) and is left unchanged.
    """
    max_edges = max_edges_from_env() if max_edges is None else int(max_edges)
    n = 0
    for name, module in list(model._modules.items()):
        if isinstance(module, ChunkedConvolution):
            module.max_edges = max_edges
            n += 1
        elif name.endswith("_convolution") and all(
            hasattr(module, attr)
            for attr in ("weight_nn", "convolution", "key_x", "denominator")
        ):
            model._modules[name] = ChunkedConvolution(module, max_edges)
            n += 1
    return n
