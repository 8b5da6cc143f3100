"""Exceptions shared by every layer of the package (no imports of its own)."""

from __future__ import annotations


class ModelFailure(RuntimeError):
    """A model whose numbers must not enter the results; ``reason`` says why.

    Raised by the guards (overlapping atoms, metal leaving the gallery, absurd
    energies or forces) and by the engines (an SCF that does not converge after its
    retry); a campaign records the reason and fails that task only.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
