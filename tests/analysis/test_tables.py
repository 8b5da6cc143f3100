import csv

import pytest

from alkali_layers.analysis.figures import plot_formation_vs_layers
from alkali_layers.analysis.tables import (
    BILAYER_COLUMNS,
    bilayer_table,
    write_csv,
    write_markdown,
)


def row(metal, n, stacking, ef, n_metal, n_carbon, converged=True):
    return dict(
        metal=metal,
        n_layers=n,
        stacking=stacking,
        n_atoms=n_metal + n_carbon,
        n_metal=n_metal,
        n_carbon=n_carbon,
        supercell="[[1,1],[-1,2]]",
        metal_strain_pct=0.0,
        gallery_height_A=4.5,
        formation_energy_eV_per_metal_atom=ef,
        capacity_total_mAh_g=1.0,
        capacity_host_mAh_g=2.0,
        converged=converged,
    )


def test_bilayer_table_voltage_steps_by_hand():
    rows = [
        row("Na", 2, "AA", -0.10, 6, 28),
        row("Na", 1, "AA", -0.20, 1, 12),
        row("Li", 1, "AB", 0.05, 1, 12),
        row("Li", 3, "AB", -0.1, 36, 76),
    ]
    table = bilayer_table(rows)
    assert [(r["metal"], r["n_layers"]) for r in table] == [
        ("Li", 1),
        ("Li", 3),
        ("Na", 1),
        ("Na", 2),
    ]
    na1, na2 = table[2], table[3]
    assert na1["voltage_step_V"] == pytest.approx(0.20)
    x1, x2 = 1 / 12, 6 / 28
    assert na2["voltage_step_V"] == pytest.approx(
        -(x2 * -0.10 - x1 * -0.20) / (x2 - x1)
    )
    assert table[1]["voltage_step_V"] is None  # Li 2 layers missing
    assert table[0]["supercell"] == "1 1;-1 2"


def test_a_strain_series_of_one_layer_count_keeps_the_steps_of_the_first_model():
    """Cs x 2 layers in three cells (a strain series): the step 1 -> 2 layers comes
    from the first 2-layer model given; the others are listed without a step."""
    rows = [
        row("Cs", 1, "AA", -0.35, 1, 12),
        row("Cs", 2, "AA", -0.20, 2, 16),
        row("Cs", 2, "AA", -0.25, 6, 52),  # another cell, x = 0.115 < x(2 layers)
        row("Cs", 2, "AA", -0.24, 8, 76),
    ]
    table = bilayer_table(rows)
    assert [r["n_atoms"] for r in table] == [13, 18, 58, 84]
    x1, x2 = 1 / 12, 2 / 16
    assert table[1]["voltage_step_V"] == pytest.approx(
        -(x2 * -0.20 - x1 * -0.35) / (x2 - x1)
    )
    assert table[2]["voltage_step_V"] is None and table[3]["voltage_step_V"] is None


def test_table_files(tmp_path):
    table = bilayer_table([row("K", 1, "AA", -0.3, 1, 12, converged=False)])
    write_csv(table, tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == list(BILAYER_COLUMNS)
    assert (
        lines[1][BILAYER_COLUMNS.index("formation_energy_eV_per_metal_atom")]
        == "-0.300"
    )
    assert lines[1][BILAYER_COLUMNS.index("converged")] == "False"
    md = write_markdown(table, tmp_path / "t.md", "Title", ["a note"]).read_text()
    assert md.startswith("# Title") and "| K | 1 | AA |" in md and "a note" in md
    png = plot_formation_vs_layers(table, tmp_path / "f.png")
    assert png.stat().st_size > 1000 and png.with_suffix(".csv").exists()


def test_compare_rows_by_hand(tmp_path):
    from alkali_layers.analysis.compare import compare_rows, write_comparison

    a = [
        {"label": "x", "formation_energy_eV_per_metal_atom": 0.10},
        {"label": "y", "formation_energy_eV_per_metal_atom": -0.20},
        {"label": "z", "formation_energy_eV_per_metal_atom": 0.0},
    ]
    b = [
        {"label": "x", "formation_energy_eV_per_metal_atom": 0.13},
        {"label": "y", "formation_energy_eV_per_metal_atom": -0.25},
    ]
    result = compare_rows(a, b)
    assert result["mae"] == pytest.approx(0.04)
    assert result["max_abs"] == pytest.approx(0.05)
    assert result["mean"] == pytest.approx(-0.01)
    assert result["missing"] == ["z"]
    heights = compare_rows(
        [{"label": "x", "gallery_height_A": 7.25}],
        [{"label": "x", "gallery_height_A": 7.0}],
        "gallery_height_A",
    )
    text = write_comparison(
        result, tmp_path / "c.md", "ML", "DFT", more=[("gallery_height_A", heights)]
    ).read_text()
    assert (
        "| x | +0.100 | +0.130 | +30 |" in text
        and "Mean absolute deviation 40 meV, maximum 50 meV" in text
        and "mean (signed) -10 meV over 2 models" in text
    )
    assert "| x | 7.250 | 7.000 | -0.250 |" in text
    assert "Mean absolute deviation 0.250 A" in text
    assert "Only in ML: z" in text and "Only in DFT" not in text
    # a small subset of a large campaign: the other side's extras are counted
    many = [{"label": f"m{i}", "e": 0.0} for i in range(20)] + [{"label": "x", "e": 1}]
    subset = compare_rows(many, [{"label": "x", "e": 2}], "e")
    assert subset["only_a"] == sorted(f"m{i}" for i in range(20))
    text = write_comparison(subset, tmp_path / "s.md", "ML", "DFT", "e").read_text()
    assert "Only in ML: 20 models" in text and "m3" not in text
    forces = compare_rows(
        [{"label": "x", "gallery_force_eV_A": 0.21}],
        [{"label": "x", "gallery_force_eV_A": -0.01}],
        "gallery_force_eV_A",
    )
    energies = compare_rows(
        [{"label": "x", "energy_eV": -145.2458}],
        [{"label": "x", "energy_eV": -145.2726}],
        "energy_eV",
    )
    text = write_comparison(
        result,
        tmp_path / "d.md",
        "A",
        "B",
        more=[("gallery_force_eV_A", forces), ("energy_eV", energies)],
    ).read_text()
    assert "| x | +0.210 | -0.010 | -0.220 |" in text
    assert "| x | -145.2458 | -145.2726 | -27 |" in text


def test_engine_summary_by_hand(tmp_path):
    from alkali_layers.analysis.compare import engine_summary, write_engine_summary

    ref = [
        {
            "label": "a",
            "formation_energy_eV_per_metal_atom": 0.10,
            "gallery_height_A": 7.0,
        },
        {
            "label": "b",
            "formation_energy_eV_per_metal_atom": -0.05,
            "gallery_height_A": 9.0,
        },
        {"label": "c", "formation_energy_eV_per_metal_atom": 0.20},
    ]
    ml = [
        {
            "label": "a",
            "formation_energy_eV_per_metal_atom": 0.13,
            "gallery_height_A": 7.5,
        },
        {
            "label": "b",
            "formation_energy_eV_per_metal_atom": 0.01,
            "gallery_height_A": 8.9,
        },
    ]
    s = engine_summary("toy", ml, ref)
    assert s["n_models"] == 2
    # |0.13-0.10| = 30 meV, |0.01+0.05| = 60 meV -> mean 45, max 60, signed +45
    assert s["formation_mae_meV_per_metal_atom"] == pytest.approx(45.0)
    assert s["formation_max_abs_meV_per_metal_atom"] == pytest.approx(60.0)
    assert s["formation_mean_meV_per_metal_atom"] == pytest.approx(45.0)
    assert s["sign_disagreements"] == 1  # b: -0.05 vs +0.01
    assert s["gallery_height_mae_A"] == pytest.approx(0.3)
    empty = engine_summary("none yet", [], ref)
    path = write_engine_summary([empty, s], tmp_path, "ref")
    text = path.read_text()
    assert text.index("| toy |") < text.index("| none yet |")  # best first
    assert (tmp_path / "formation_mae.png").stat().st_size > 1000


def test_compare_rows_matches_labels_with_and_without_the_builder_prefix():
    """A single-group spec labels ``Li-1L-AA`` what a several-group spec labels
    ``bilayer_graphene-Li-1L-AA``: the same model, compared."""
    from alkali_layers.analysis.compare import compare_rows

    one = [{"label": "Li-1L-AA", "builder": "bilayer_graphene", "e": -0.125}]
    several = [
        {
            "label": "bilayer_graphene-Li-1L-AA",
            "builder": "bilayer_graphene",
            "e": 0.118,
        },
        {
            "label": "bilayer_graphene-Li-2L-AA",
            "builder": "bilayer_graphene",
            "e": 0.171,
        },
    ]
    result = compare_rows(several, one, "e")
    assert result["pairs"] == [("Li-1L-AA", 0.118, -0.125, pytest.approx(-0.243))]
    assert result["missing"] == ["Li-2L-AA"]


def test_in_plane_columns_appear_only_when_the_rows_carry_them():
    """A campaign that relaxes the in-plane cell reports the relaxed graphene lattice
    and the in-plane metal-metal distance right after the gallery height; tables of
    fixed-cell campaigns keep their columns."""
    from alkali_layers.analysis.tables import with_error_columns

    plain = bilayer_table([row("Cs", 1, "AA", -0.3, 1, 12)])
    assert with_error_columns(BILAYER_COLUMNS, plain) == BILAYER_COLUMNS
    relaxed = row("Cs", 1, "AA", -0.3, 1, 12)
    relaxed.update(graphene_a_A=2.47, metal_nn_A=4.278)
    table = bilayer_table([relaxed])
    columns = with_error_columns(BILAYER_COLUMNS, table)
    at = columns.index("gallery_height_A")
    assert columns[at + 1 : at + 3] == ("graphene_a_A", "metal_nn_A")
    assert table[0]["metal_nn_A"] == 4.278


def test_gallery_force_column_follows_the_gallery_height():
    from alkali_layers.analysis.tables import with_error_columns

    dft = row("Rb", 1, "AB", -0.06, 1, 12)
    dft.update(graphene_a_A=2.478, metal_nn_A=4.292, gallery_force_eV_A=-0.19)
    table = bilayer_table([dft])
    columns = with_error_columns(BILAYER_COLUMNS, table)
    at = columns.index("gallery_height_A")
    assert columns[at + 1 : at + 4] == (
        "gallery_force_eV_A",
        "graphene_a_A",
        "metal_nn_A",
    )
    assert table[0]["gallery_force_eV_A"] == -0.19


def test_formation_table_keeps_the_optional_columns_a_row_carries():
    from alkali_layers.analysis.tables import (
        FORMATION_COLUMNS,
        formation_table,
        with_error_columns,
    )

    base = {"label": "Rb-1L-AB", "formula": "RbC12", "n_atoms": 13, "converged": True}
    table = formation_table(
        [{**base, "gallery_force_eV_A": 0.278, "graphene_a_A": 2.48}]
    )
    columns = with_error_columns(FORMATION_COLUMNS, table)
    at = columns.index("gallery_height_A")
    assert columns[at + 1 : at + 3] == ("gallery_force_eV_A", "graphene_a_A")
    plain = formation_table([base])
    assert with_error_columns(FORMATION_COLUMNS, plain) == FORMATION_COLUMNS
