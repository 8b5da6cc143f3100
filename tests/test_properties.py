"""Property-based tests: any builder or spec input gives a result or a ValueError."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alkali_layers.builders import bilayer_graphene, graphite_intercalation
from alkali_layers.campaigns.spec import SpecError, parse_spec
from alkali_layers.geometry import closest_pair

METALS = st.sampled_from(["Li", "Na", "K", "Rb", "Cs", "Fr", "na", "", "Xx"])
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@FAST
@given(
    metal=METALS,
    n_layers=st.one_of(st.integers(-3, 7), st.floats(0, 4), st.just("2")),
    stacking=st.sampled_from(["AA", "AB", "BA", "aa", ""]),
    packing=st.sampled_from(["fcc", "hcp", "bcc", "sc"]),
    max_strain=st.floats(0.001, 0.06),
)
def test_bilayer_builder_gives_a_sane_model_or_a_value_error(
    metal, n_layers, stacking, packing, max_strain
):
    try:
        atoms = bilayer_graphene(
            metal, n_layers, stacking, packing, max_strain=max_strain
        )
    except ValueError as err:
        assert str(err)
        return
    assert closest_pair(atoms).ratio > 0.85
    assert atoms.info["metal_strain_pct"] <= 100 * max_strain + 1e-9


@FAST
@given(metal=METALS, stoichiometry=st.text(max_size=8))
def test_gic_builder_gives_a_model_or_a_value_error(metal, stoichiometry):
    try:
        atoms = graphite_intercalation(metal, stoichiometry)
    except ValueError as err:
        assert str(err)
        return
    assert len(atoms) in (7, 9)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.text(max_size=6),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=8), inner, max_size=3),
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "name",
        "title",
        "analysis",
        "engine",
        "relax",
        "resources",
        "models",
        "builder",
        "grid",
        "params",
        "tasks",
        "metal",
        "n_layers",
        "fmax_eV_A",
        "junk",
    ]
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_spec_table_parses_or_raises_spec_error(data):
    try:
        parse_spec(data, Path("runs/x/campaign.toml"))
    except SpecError as err:
        assert "runs/x/campaign.toml" in str(err)


@settings(max_examples=150, deadline=None)
@given(
    grid=st.dictionaries(
        st.sampled_from(["metal", "n_layers", "stacking", "packing", "twist"]),
        VALUES,
        max_size=3,
    ),
    params=st.dictionaries(
        st.sampled_from(["max_strain", "vacuum", "colour"]), VALUES, max_size=2
    ),
    tasks=st.one_of(
        VALUES, st.lists(st.sampled_from(["relax", "formation_energy", "x"]))
    ),
)
def test_model_tables_parse_or_raise_spec_error(grid, params, tasks):
    data = {
        "models": [
            {
                "builder": "bilayer_graphene",
                "grid": grid,
                "params": params,
                "tasks": tasks,
            }
        ]
    }
    try:
        spec = parse_spec(data, Path("runs/y/campaign.toml"))
    except SpecError as err:
        assert "runs/y/campaign.toml" in str(err)
        return
    assert spec.models[0].builder == "bilayer_graphene"
