"""The structure builders every spec may name (kinds add their own)."""

from __future__ import annotations

from ...builders import (
    bilayer_graphene,
    bulk_metal,
    closed_pore,
    graphite,
    graphite_intercalation,
    pore_assembly,
    wedge_pore,
)
from ..registry import register_builder

for _builder in (
    bilayer_graphene,
    graphite_intercalation,
    graphite,
    bulk_metal,
    closed_pore,
    pore_assembly,
    wedge_pore,
):
    register_builder(_builder.__name__, _builder)
