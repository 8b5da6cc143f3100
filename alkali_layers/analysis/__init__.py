"""Pure functions of stored results (no calculators).

Capacities, voltages, tables and figures.
"""
