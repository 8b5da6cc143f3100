"""Everything that needs energies.

Engines, relaxation protocols, references and energetics.
"""
