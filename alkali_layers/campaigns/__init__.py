"""Campaigns: model grids -> content-addressed tasks -> execution -> one database."""
