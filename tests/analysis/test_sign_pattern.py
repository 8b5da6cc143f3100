"""The bilayer table against the study's sign pattern (analysis.sign_pattern)."""

import numpy as np
import pytest

from alkali_layers.analysis.sign_pattern import (
    sign_rows,
    study_expects_stable,
    trend_rows,
    write_sign_pattern,
)


def model(metal, n, ef, stacking="AA", std=None, ensemble=None):
    return dict(
        metal=metal,
        n_layers=n,
        stacking=stacking,
        formation_energy_eV_per_metal_atom=ef,
        formation_energy_std_eV=std,
        formation_energy_ensemble_eV=ensemble,
    )


def test_the_study_statements():
    assert [study_expects_stable(m, 1) for m in ("Li", "Na", "K", "Rb", "Cs")] == [
        True,
        False,
        True,
        True,
        True,
    ]
    assert [study_expects_stable(m, 3) for m in ("Li", "Na", "K", "Rb", "Cs")] == [
        False,
        False,
        True,
        True,
        True,
    ]
    with pytest.raises(ValueError, match="unknown metal 'Fr'"):
        study_expects_stable("Fr", 1)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        study_expects_stable("Li", 0)


def test_signs_and_error_bars():
    rows = [
        model("Li", 1, +0.118),  # wrong sign, no error bar
        model("K", 1, +0.020, std=0.05),  # wrong sign inside its error bar
        model("Na", 1, -0.10, std=0.05),  # wrong sign outside its error bar
        model("Cs", 2, -0.03, std=0.05),  # right sign
        model("Li", 2, +0.17),
        model("Li", 2, -0.5),  # a second cell of Li 2L: the first one counts
    ]
    got = {(r["metal"], r["n_layers"]): r for r in sign_rows(rows)}
    assert len(got) == 5
    assert got[("Li", 1)]["agrees"] is False
    assert got[("Li", 1)]["within_error_bar"] is None
    assert got[("K", 1)]["within_error_bar"] is True
    assert got[("Na", 1)]["within_error_bar"] is False
    assert got[("Cs", 2)]["agrees"] and got[("Cs", 2)]["within_error_bar"] is None
    assert got[("Li", 2)]["agrees"] and got[("Li", 2)]["study"] == "slightly unstable"


def test_trends_use_the_std_of_the_ensemble_difference():
    """Two correlated ensembles: the difference's spread is far below either spread,
    so a small difference can lie outside its error bar although each E_f has a
    large one."""
    rng = np.random.default_rng(0)
    common = rng.normal(0.0, 0.1, 2000)
    e1 = -0.30 + common
    e2 = -0.32 + common + rng.normal(0.0, 0.005, 2000)
    rows = [
        model("K", 1, -0.30, std=float(e1.std()), ensemble=e1),
        model("K", 2, -0.32, std=float(e2.std()), ensemble=e2),
        model("K", 3, -0.01),
        model("Rb", 1, -0.25, stacking="AA"),
        model("Rb", 1, -0.20, stacking="AB"),
        model("Li", 2, 0.2),  # Li multilayers carry no trend claim
        model("Li", 3, 0.1),
    ]
    trends = trend_rows(rows)
    by = {(t["metal"], t["difference"]): t for t in trends}
    assert set(by) == {
        ("K", "2L - 1L (AA)"),
        ("K", "3L - 2L (AA)"),
        ("Rb", "AB - AA (1L)"),
    }
    k21 = by[("K", "2L - 1L (AA)")]
    assert k21["value_eV"] == pytest.approx(-0.02)
    assert k21["std_eV"] == pytest.approx(0.005, rel=0.1)
    assert k21["agrees"] is False and k21["within_error_bar"] is False
    assert (
        by[("K", "3L - 2L (AA)")]["agrees"]
        and by[("K", "3L - 2L (AA)")]["std_eV"] is None
    )
    assert by[("Rb", "AB - AA (1L)")]["value_eV"] == pytest.approx(0.05)


def test_markdown_summary(tmp_path):
    rows = [model("Li", 1, 0.1), model("Na", 1, 0.3), model("K", 1, 0.01, std=0.02)]
    text = write_sign_pattern(rows, tmp_path / "vs_study.md", "T").read_text()
    assert "signs: 1 of 3 as in the study; 2 disagree (1 within the error bar, " in text
    assert "1 without an error bar" in text
    assert "| Na | 1 | AA | +0.300 |  | unstable | yes |  |" in text
    assert "No pair of models for a trend yet." in text
