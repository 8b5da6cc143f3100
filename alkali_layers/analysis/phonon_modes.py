"""Mode-by-mode comparison of two phonon results (e.g. GPAW vs the fast engine).

By order (:func:`compare_special_points`): frequencies (THz) read at the special
points of the stored band path (Γ, M, K, A, ...), where the band path starts or
ends a segment, paired by sorted order.  That pairs degenerate modes among
themselves but mismatches the low modes when one result has imaginary modes that
the other has not (the three acoustic modes then sit above them).

By character (:func:`match_modes`, :func:`compare_modes_matched`): each mode of the
reference is paired with the mode of the other result whose eigenvector overlaps it
most, ``O_ij = sum_{j' ~ j} |<e_i | f_j'>|^2`` (``j' ~ j``: the modes degenerate
with ``j`` within ``degeneracy_THz``, so that a degenerate pair counts as one
subspace whatever basis each code chose in it), the assignment maximising the total
overlap (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).  Both
results must describe the same structure with the same atom order (eigenvectors
are mass-weighted displacements of the primitive cell's atoms, phonopy's
convention).  The overlap of each pair is reported: 1 = the same motion.

Pure functions of frequencies and eigenvectors; no calculators.
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


def _degenerate_groups(freqs: np.ndarray, tol: float) -> list[list[int]]:
    order = np.argsort(freqs)
    groups: list[list[int]] = []
    for i in order:
        if groups and abs(freqs[i] - freqs[groups[-1][-1]]) <= tol:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    return groups


def match_modes(
    freqs_ref,
    vecs_ref,
    freqs_other,
    vecs_other,
    degeneracy_THz: float = 0.05,
) -> list[tuple[int, int, float]]:
    """Pair the modes of two results at one q by eigenvector overlap.

    Parameters
    ----------
    freqs_ref, freqs_other : array (n,)
        Frequencies (THz).
    vecs_ref, vecs_other : array (n, n)
        Eigenvectors as columns (phonopy's ``eigenvectors`` layout).
    degeneracy_THz : float
        Modes of ``other`` closer than this form one degenerate subspace.

    Returns
    -------
    list of (i_ref, j_other, overlap)
        One pair per reference mode, in the reference's ascending frequency order;
        ``overlap`` in [0, 1] (subspace overlap, see the module docstring).
    """
    from scipy.optimize import linear_sum_assignment

    fr = np.asarray(freqs_ref, dtype=float)
    fo = np.asarray(freqs_other, dtype=float)
    a = np.asarray(vecs_ref)
    b = np.asarray(vecs_other)
    n = len(fr)
    if a.shape != (n, n) or b.shape != (n, n) or len(fo) != n:
        raise ValueError(
            f"mode sets of different shapes: {a.shape} and {b.shape} "
            "(not the same structure)"
        )
    single = np.abs(a.conj().T @ b) ** 2  # single[i, j] = |<e_i|f_j>|^2
    overlap = np.empty_like(single)
    for group in _degenerate_groups(fo, degeneracy_THz):
        overlap[:, group] = single[:, group].sum(axis=1, keepdims=True)
    rows, cols = linear_sum_assignment(-overlap)
    pairs = {
        int(i): (int(i), int(j), float(overlap[i, j]))
        for i, j in zip(rows, cols, strict=True)
    }
    return [pairs[int(i)] for i in np.argsort(fr)]


def compare_modes_matched(
    reference: dict, other: dict, degeneracy_THz: float = 0.05, zero_THz: float = 0.5
) -> list[dict]:
    """Rows of a mode-by-mode comparison at labelled q-points, paired by character.

    ``reference`` and ``other``: ``{label: (frequencies, eigenvectors, commensurate)}``
    as :func:`alkali_layers.calculators.phonons.modes_at` returns per point; the
    labels of ``reference`` are compared, in its order.  Each row: ``point``,
    ``branch`` (0-based, ascending reference frequency), ``reference_THz``,
    ``other_THz``, ``difference_THz`` (other - reference), ``difference_pct``
    (None where ``|reference| < zero_THz``: acoustic modes near Γ), ``overlap``
    and ``commensurate`` (both exact at this q).
    """
    rows = []
    for label, (fr, vr, cr) in reference.items():
        if label not in other:
            raise ValueError(f"point {label!r} missing from the other result")
        fo, vo, co = other[label]
        for branch, (i, j, ov) in enumerate(
            match_modes(fr, vr, fo, vo, degeneracy_THz)
        ):
            x, y = float(fr[i]), float(fo[j])
            rows.append(
                {
                    "point": label,
                    "branch": branch,
                    "reference_THz": x,
                    "other_THz": y,
                    "difference_THz": y - x,
                    "difference_pct": None
                    if abs(x) < zero_THz
                    else 100.0 * (y - x) / abs(x),
                    "overlap": ov,
                    "commensurate": bool(cr and co),
                }
            )
    return rows
