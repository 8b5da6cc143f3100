"""Builders: plain functions returning new ``ase.Atoms`` (no calculators here)."""

from .graphene import graphite
from .intercalation import (
    bilayer_graphene,
    graphite_intercalation,
    metal_coincidence_cell,
)
from .layers import bulk_metal
from .matching import best_coincidence_cell, find_coincidence_cells

__all__ = [
    "bilayer_graphene",
    "best_coincidence_cell",
    "bulk_metal",
    "find_coincidence_cells",
    "graphite",
    "graphite_intercalation",
    "metal_coincidence_cell",
]
