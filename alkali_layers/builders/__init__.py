"""Builders: plain functions returning new ``ase.Atoms`` (no calculators here)."""

from .graphene import graphite
from .intercalation import (
    bilayer_graphene,
    graphite_intercalation,
    metal_coincidence_cell,
)
from .layers import bulk_metal
from .matching import best_coincidence_cell, find_coincidence_cells
from .pores import closed_pore, fill_pore, max_layers, pore_assembly, wedge_pore
from .sites import SITE_KINDS, Site, enumerate_sites

__all__ = [
    "SITE_KINDS",
    "Site",
    "closed_pore",
    "enumerate_sites",
    "fill_pore",
    "max_layers",
    "pore_assembly",
    "wedge_pore",
    "bilayer_graphene",
    "best_coincidence_cell",
    "bulk_metal",
    "find_coincidence_cells",
    "graphite",
    "graphite_intercalation",
    "metal_coincidence_cell",
]
