"""Mode-by-mode comparison of two phonon results (e.g. GPAW vs the fast engine).

Frequencies (THz) are read at the special points of the stored band path (Γ, M, K,
A, ...), where the band path starts or ends a segment; modes are matched by order
(sorted frequencies at each point), which pairs degenerate modes among themselves
but mismatches the low modes when one result has imaginary modes that the other has
not (the three acoustic modes then sit above them): pair those by character.  Pure
functions of :class:`~alkali_layers.calculators.phonons.PhononResult` data.
"""

from __future__ import annotations

import numpy as np


def special_point_frequencies(result) -> dict[str, list[float]]:
    """Sorted frequencies (THz) at each labelled point of the band path.

    ``result``: a ``PhononResult`` or its dict.  A label met twice keeps the first.
    """
    band = result["band"] if isinstance(result, dict) else result.band
    labels = list(band["labels"])
    out: dict[str, list[float]] = {}
    names = iter(labels)
    current = next(names, None)
    for i, freqs in enumerate(band["frequencies_THz"]):
        f = np.asarray(freqs)
        if current is not None:
            out.setdefault(current, sorted(f[0].tolist()))
        end = next(names, None)
        if end is not None:
            out.setdefault(end, sorted(f[-1].tolist()))
        current = end
        if not band["path_connections"][i]:
            current = next(names, None)
    return out


def compare_special_points(
    reference, other, labels: tuple[str, ...] | None = None
) -> list[dict]:
    """Rows ``label, mode, reference_THz, other_THz, difference_THz`` (other - ref).

    ``labels``: the points to compare (default: those both paths visit).  Both
    results must describe the same cell (same number of modes).
    """
    a = special_point_frequencies(reference)
    b = special_point_frequencies(other)
    common = [k for k in a if k in b] if labels is None else list(labels)
    rows = []
    for label in common:
        if label not in a or label not in b:
            raise ValueError(f"point {label!r} is not on both band paths")
        fa, fb = a[label], b[label]
        if len(fa) != len(fb):
            raise ValueError(
                f"different numbers of modes at {label}: {len(fa)} vs {len(fb)} "
                "(not the same cell)"
            )
        for i, (x, y) in enumerate(zip(fa, fb, strict=True)):
            rows.append(
                {
                    "label": label,
                    "mode": i,
                    "reference_THz": x,
                    "other_THz": y,
                    "difference_THz": y - x,
                }
            )
    return rows
