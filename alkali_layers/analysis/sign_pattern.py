"""A bilayer table against the sign pattern of the multilayer-alkali study.

The study (Chepkasov et al., Nano Energy 75, 104927 (2020); the statements in
:data:`~alkali_layers.elements.BILAYER_STUDY_ONE_LAYER_STABLE` and
:data:`~alkali_layers.elements.BILAYER_STUDY_MULTILAYER_STABLE`) reports which
formation energies are negative, not a table of numbers the project could match.  So
the comparison is qualitative and has two parts:

* **signs**: each model's E_f (eV per metal atom, vs bcc metal and the empty
  bilayer) against "stable" (E_f < 0) or "unstable" (E_f > 0);
* **trends**: K, Rb and Cs multilayers with E_f rising toward zero as layers are
  added (E_f(n) - E_f(n-1) > 0, AA stacking), and AB stacking slightly above AA
  (E_f(AB) - E_f(AA) > 0, one layer).

A disagreement is *within the error bar* when the number that decides it (E_f, or the
difference) is no larger in magnitude than its BEEF-vdW ensemble standard deviation;
for a difference the deviation is that of the member-by-member difference of the two
ensembles (the ensembles of one treatment are correlated, so this is smaller than
the two deviations added in quadrature).  Rows without ensembles get no error bar and
a disagreement there is simply a disagreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..elements import (
    ALKALI_METALS,
    BILAYER_STUDY_MULTILAYER_STABLE,
    BILAYER_STUDY_ONE_LAYER_STABLE,
)

STUDY = "Chepkasov et al., Nano Energy 75, 104927 (2020)"

SIGN_COLUMNS: tuple[str, ...] = (
    "metal",
    "n_layers",
    "stacking",
    "formation_energy_eV_per_metal_atom",
    "formation_energy_std_eV",
    "study",
    "agrees",
    "within_error_bar",
)
TREND_COLUMNS: tuple[str, ...] = (
    "claim",
    "metal",
    "difference",
    "value_eV",
    "std_eV",
    "agrees",
    "within_error_bar",
)


def study_expects_stable(metal: str, n_layers: int) -> bool:
    """Whether the study finds ``n_layers`` layers of ``metal`` in bilayer graphene
    stable (E_f < 0); one layer and multilayers are separate statements."""
    if metal not in BILAYER_STUDY_ONE_LAYER_STABLE:
        raise ValueError(f"unknown metal {metal!r}; the study covers {ALKALI_METALS}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    table = (
        BILAYER_STUDY_ONE_LAYER_STABLE
        if n_layers == 1
        else BILAYER_STUDY_MULTILAYER_STABLE
    )
    return table[metal]


def _first_per_model(rows: Iterable[dict]) -> dict[tuple, dict]:
    """One row per (metal, stacking, n_layers) with a formation energy: the first
    given (a strain series repeats a layer count; its first cell is the table's)."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if r.get("formation_energy_eV_per_metal_atom") is None:
            continue
        out.setdefault((r["metal"], r["stacking"], int(r["n_layers"])), r)
    return out


def _within(value: float, std: float | None, agrees: bool) -> bool | None:
    if agrees:
        return None
    return None if std is None else bool(abs(value) <= std)


def sign_rows(rows: Iterable[dict]) -> list[dict]:
    """Each model's sign of E_f against the study's (columns :data:`SIGN_COLUMNS`).

    Parameters
    ----------
    rows : iterable of dict
        Model rows with metal, n_layers, stacking and
        formation_energy_eV_per_metal_atom, optionally formation_energy_std_eV (the
        campaign's ``model_rows``).

    Returns
    -------
    list of dict
        Sorted by metal (Li..Cs), stacking, n_layers.  ``study`` is "stable" or
        "unstable" ("slightly unstable" for Li and Na multilayers, as the study
        words it); ``within_error_bar`` is None where the signs agree.
    """
    out = []
    models = _first_per_model(rows)
    for (metal, stacking, n), r in sorted(
        models.items(),
        key=lambda kv: (ALKALI_METALS.index(kv[0][0]), kv[0][1], kv[0][2]),
    ):
        stable = study_expects_stable(metal, n)
        ef = float(r["formation_energy_eV_per_metal_atom"])
        std = r.get("formation_energy_std_eV")
        agrees = (ef < 0) == stable
        study = "stable" if stable else ("unstable" if n == 1 else "slightly unstable")
        out.append(
            dict(
                metal=metal,
                n_layers=n,
                stacking=stacking,
                formation_energy_eV_per_metal_atom=ef,
                formation_energy_std_eV=std,
                study=study,
                agrees=agrees,
                within_error_bar=_within(ef, std, agrees),
            )
        )
    return out


def _difference(a: dict, b: dict) -> tuple[float, float | None]:
    """E_f(a) - E_f(b) (eV per metal atom) and the standard deviation of the
    member-by-member difference of their BEEF ensembles (None without both)."""
    value = float(a["formation_energy_eV_per_metal_atom"]) - float(
        b["formation_energy_eV_per_metal_atom"]
    )
    ea = a.get("formation_energy_ensemble_eV")
    eb = b.get("formation_energy_ensemble_eV")
    if ea is None or eb is None:
        return value, None
    return value, float(np.std(np.asarray(ea) - np.asarray(eb)))


def trend_rows(rows: Iterable[dict]) -> list[dict]:
    """The study's two trends checked on the models present (:data:`TREND_COLUMNS`).

    * ``multilayer E_f rises toward zero``: for K, Rb and Cs (the metals whose
      multilayers the study finds stable) in AA stacking, E_f(n) - E_f(n-1) > 0 for
      every pair of consecutive layer counts present;
    * ``AB slightly above AA``: E_f(AB) - E_f(AA) > 0 for one layer of each metal
      with both stackings.
    """
    models = _first_per_model(rows)
    out = []
    for metal in ALKALI_METALS:
        if BILAYER_STUDY_MULTILAYER_STABLE[metal]:
            counts = sorted(n for m, s, n in models if m == metal and s == "AA")
            for lo, hi in zip(counts, counts[1:], strict=False):
                if hi != lo + 1:
                    continue
                value, std = _difference(
                    models[(metal, "AA", hi)], models[(metal, "AA", lo)]
                )
                out.append(
                    dict(
                        claim="multilayer E_f rises toward zero",
                        metal=metal,
                        difference=f"{hi}L - {lo}L (AA)",
                        value_eV=value,
                        std_eV=std,
                        agrees=value > 0,
                        within_error_bar=_within(value, std, value > 0),
                    )
                )
    for metal in ALKALI_METALS:
        if (metal, "AA", 1) in models and (metal, "AB", 1) in models:
            value, std = _difference(models[(metal, "AB", 1)], models[(metal, "AA", 1)])
            out.append(
                dict(
                    claim="AB slightly above AA",
                    metal=metal,
                    difference="AB - AA (1L)",
                    value_eV=value,
                    std_eV=std,
                    agrees=value > 0,
                    within_error_bar=_within(value, std, value > 0),
                )
            )
    return out


def _summary(signs: Sequence[dict], trends: Sequence[dict]) -> list[str]:
    lines = []
    for name, table in (("signs", signs), ("trends", trends)):
        if not table:
            continue
        n_ok = sum(r["agrees"] for r in table)
        off = [r for r in table if not r["agrees"]]
        covered = sum(r["within_error_bar"] is True for r in off)
        outside = sum(r["within_error_bar"] is False for r in off)
        bare = len(off) - covered - outside
        line = f"{name}: {n_ok} of {len(table)} as in the study"
        if off:
            parts = [
                f"{covered} within the error bar" if covered else "",
                f"{outside} outside it" if outside else "",
                f"{bare} without an error bar" if bare else "",
            ]
            line += f"; {len(off)} disagree ({', '.join(p for p in parts if p)})"
        lines.append(line + ".")
    return lines


def write_sign_pattern(rows: Iterable[dict], path: Path | str, title: str) -> Path:
    """Write the sign and trend comparison as Markdown (``vs_study.md``)."""
    rows = list(rows)
    signs, trends = sign_rows(rows), trend_rows(rows)
    path = Path(path)

    def fmt(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:+.3f}"
        return str(value)

    def rendered(table, columns) -> str:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for r in table:
            lines.append("| " + " | ".join(fmt(r.get(c)) for c in columns) + " |")
        return "\n".join(lines)

    text = [
        f"# {title}: the sign pattern of the multilayer-alkali study",
        "",
        f"Study: {STUDY}. E_f in eV per metal atom vs bcc metal and the empty "
        "bilayer; std: BEEF-vdW ensemble standard deviation (blank: no ensemble). "
        "A disagreement is within the error bar when |value| <= std.",
        "",
        *_summary(signs, trends),
        "",
        "## Signs",
        "",
        rendered(signs, SIGN_COLUMNS),
        "",
        "## Trends",
        "",
        rendered(trends, TREND_COLUMNS)
        if trends
        else "No pair of models for a trend yet.",
        "",
    ]
    path.write_text("\n".join(text))
    return path
