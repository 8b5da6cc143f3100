"""The ``barrier`` task kind, its builder and its ``barriers`` layout.

The kind is run on the ASE-tutorial EMT system (Au hopping between Al(001) hollows,
tests/calculators/test_barriers.py) so that the machinery costs a second; the
campaign-level test with the fast engine is marked slow.
"""

import textwrap
from dataclasses import asdict

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.geometry import find_mic

from alkali_layers.analysis.barriers import (
    BARRIER_COLUMNS,
    barrier_table,
    not_built_row,
    write_barrier_outputs,
)
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.kinds.barrier import (
    BarrierOptions,
    barrier_options,
    run_barrier,
)
from alkali_layers.campaigns.registry import BUILDERS, LAYOUTS, task_kind
from alkali_layers.campaigns.spec import SpecError, load_spec
from alkali_layers.campaigns.tasks import RelaxTask
from tests.calculators.test_barriers import au_on_al100


def au_path():
    initial, final, fixed = au_on_al100()
    initial.info.update(
        pathway="au_al100_hop",
        metal="Au",
        spacing_A=None,
        hop_atom=len(initial) - 1,
        hop_target_A=final.positions[-1].tolist(),
        neb_fixed=fixed,
    )
    return initial


def test_kind_builder_and_layout_are_registered():
    kind = task_kind("barrier")
    assert kind.options is BarrierOptions and kind.uses_relax_settings
    assert "migration_path" in BUILDERS and "barriers" in LAYOUTS


def test_options_defaults_and_bad_values():
    options = barrier_options()
    assert options["n_images"] == 7 and options["method"] == "improvedtangent"
    assert options["interpolation"] == "idpp" and options["fmax_eV_A"] == 0.05
    with pytest.raises(ValueError, match="NEB method"):
        BarrierOptions(method="nudge")
    with pytest.raises(ValueError, match="n_images"):
        BarrierOptions(n_images=0)


def test_run_barrier_outcome_has_the_columns_and_the_saddle(tmp_path):
    task = RelaxTask(
        "au",
        "model",
        au_path(),
        {},
        kind="barrier",
        options=barrier_options(n_images=3),
    )
    outcome = run_barrier(task, None, EMT(), RelaxSettings(), tmp_path)
    assert outcome.ok and outcome.converged
    values = outcome.values
    assert values["barrier_fwd_eV"] == pytest.approx(0.3744, abs=0.005)  # EMT, ASE
    assert values["barrier_bwd_eV"] == pytest.approx(values["barrier_fwd_eV"], abs=5e-3)
    assert values["n_images"] == 3 and values["force_calls"] > 0
    # the stored structure is the climbing image: Au half way (minimum image; this
    # hop is half the cell, so either bridge is the same saddle)
    saddle = outcome.atoms
    start, end = au_path().positions[-1], au_path().info["hop_target_A"]
    _, (d_start, d_end) = find_mic(
        np.array([saddle.positions[-1] - start, saddle.positions[-1] - end]),
        saddle.cell,
        saddle.pbc,
    )
    assert d_start == pytest.approx(d_end, abs=0.05)
    assert outcome.energy_eV == pytest.approx(outcome.atoms.get_potential_energy())
    assert outcome.data["saddle_index"] == 2
    assert outcome.data["profile_energy_eV"]


def test_unconverged_band_is_stored_without_a_barrier(tmp_path):
    task = RelaxTask(
        "au",
        "model",
        au_path(),
        {},
        kind="barrier",
        options=barrier_options(n_images=3, max_steps=1),
    )
    outcome = run_barrier(task, None, EMT(), RelaxSettings(), tmp_path)
    assert outcome.ok and not outcome.converged
    assert "barrier_fwd_eV" not in outcome.values
    assert outcome.values["band_converged"] is False


def _row(pathway, metal, spacing, fwd, converged=True):
    x = list(np.linspace(0, 2.46, 11))
    y = list(fwd * np.sin(np.linspace(0, np.pi, 11)))
    return {
        "pathway": pathway,
        "metal": metal,
        "spacing_A": spacing,
        "engine": "mlip",
        "barrier_fwd_eV": fwd if converged else None,
        "barrier_bwd_eV": fwd if converged else None,
        "band_converged": converged,
        "n_images": 5,
        "force_calls": 100,
        "data": {"converged": converged, "profile_path_A": x, "profile_energy_eV": y},
    }


def test_layout_writes_table_and_figures_and_hides_unconverged(tmp_path):
    rows = [
        _row("gallery_hop", "Na", 6.79, 0.05),
        _row("gallery_hop", "Na", 3.74, 0.4),
        _row("graphene_hop", "Na", None, 0.1),
        _row("bulk_vacancy_hop", "Li", None, 0.2, converged=False),
    ]
    table = write_barrier_outputs(rows, [("x", "builder: too narrow")], tmp_path, "t")
    assert [r["pathway"] for r in table] == [
        "graphene_hop",
        "gallery_hop",
        "gallery_hop",
        "bulk_vacancy_hop",
    ]
    assert [r["spacing_A"] for r in table[1:3]] == [3.74, 6.79]
    assert table[-1]["barrier_fwd_eV"] is None and table[-1]["converged"] is False
    text = (tmp_path / "table.md").read_text()
    assert "Not converged: bulk_vacancy_hop Li" in text and "too narrow" in text
    header = (tmp_path / "table.csv").read_text().splitlines()[0]
    assert header.split(",") == list(BARRIER_COLUMNS)
    for name in ("profiles", "barrier_vs_spacing", "na_pathways"):
        assert (tmp_path / f"{name}.png").exists()
        assert (tmp_path / f"{name}.csv").exists()
    assert barrier_table([]) == []


def test_a_path_that_does_not_fit_is_a_table_row_with_its_closest_pair(tmp_path):
    """Cs in a 3.4 A gallery: the builder refuses it (atoms overlap); the table
    lists it in its place with no barrier and the measured closest distance,
    not silently dropped."""
    reason = (
        "builder: Cs in a 3.4 A gallery: atoms overlap, C4-Cs18 at 2.215 A "
        "(0.69 x the sum of covalent radii) < 0.7"
    )
    refused = not_built_row("gallery_hop", "Cs", 3.4, reason)
    assert refused["note"].startswith("does not fit: closest pair C4-Cs18 at 2.215 A")
    assert not_built_row("gallery_hop", "Cs", 3.4, "builder: boom")["note"] == (
        "not built: boom"
    )
    rows = [_row("gallery_hop", "Cs", 3.74, 1.9), _row("gallery_hop", "Rb", 3.4, 2.4)]
    table = write_barrier_outputs(
        rows, [("Cs-3.4", reason)], tmp_path, "t", not_built=[refused]
    )
    assert [(r["metal"], r["spacing_A"]) for r in table] == [
        ("Rb", 3.4),
        ("Cs", 3.4),
        ("Cs", 3.74),
    ]
    cs = table[1]
    assert cs["barrier_fwd_eV"] is None and cs["converged"] is False
    assert "2.215 A" in cs["note"] and table[0]["note"] is None
    csv = (tmp_path / "table.csv").read_text()
    assert "gallery_hop,Cs,3.4," in csv and "does not fit" in csv
    # the unconverged list names bands only, not refused paths
    assert "Not converged" not in (tmp_path / "table.md").read_text()


def test_layout_lists_the_refused_path_of_a_campaign(tmp_path):
    """Through the campaign: a gallery too narrow for Cs appears in table.csv."""
    folder = _spec(tmp_path, "narrow")
    text = (folder / "campaign.toml").read_text()
    text = text.replace(
        'pathway = ["graphene_hop"]\nmetal = ["Li"]',
        'metal = ["Cs"]\nspacing_A = [3.4]\n[models.params]\npathway = "gallery_hop"',
    )
    (folder / "campaign.toml").write_text(text)
    campaign = Campaign(folder, stream=False)
    LAYOUTS["barriers"](campaign)
    csv = (folder / "table.csv").read_text().splitlines()
    assert len(csv) == 2 and csv[1].startswith("gallery_hop,Cs,3.4,")
    assert "does not fit: closest pair" in csv[1]


SPEC = """
name = "barrier_test"
analysis = "barriers"
[engine]
name = "mlip"
[relax]
fmax_eV_A = 0.02
[[models]]
builder = "migration_path"
tasks = ["barrier"]
[models.grid]
pathway = ["graphene_hop"]
metal = ["Li"]
[models.options]
n_images = {n_images}
"""


def _spec(tmp_path, name, n_images=3, extra=""):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "campaign.toml").write_text(
        textwrap.dedent(SPEC.format(n_images=n_images)) + extra
    )
    return folder


def test_options_enter_the_task_key(tmp_path):
    (a,) = Campaign(_spec(tmp_path, "a"), stream=False).entries()
    (b,) = Campaign(_spec(tmp_path, "b"), stream=False).entries()
    (c,) = Campaign(_spec(tmp_path, "c", n_images=5), stream=False).entries()
    assert a.key == b.key != c.key
    assert a.task.atoms.info["pathway"] == "graphene_hop"


def test_spec_with_a_bad_option_names_the_key(tmp_path):
    folder = _spec(tmp_path, "bad", extra="tunnel = true\n")
    with pytest.raises(SpecError, match="options"):
        load_spec(folder)


@pytest.mark.slow
def test_li_graphene_hop_campaign_with_the_fast_engine(tmp_path):
    """Li adatom on graphene, hollow -> bridge -> hollow, 7net-0 + D3(BJ), 3 images,
    through a whole campaign (spec -> task -> database -> table).

    The fast engine's barrier is pinned at its measured 0.072 eV (5 images,
    runs/barriers): far below PBE, which puts the bridge 0.32 eV above the hollow
    (Chan, Neaton & Cohen, PRB 77, 235430 (2008): adsorption energies 1.096 eV
    hollow, 0.773 eV bridge).  A rigid scan with this engine gives the same flat
    surface (bridge 0.03 eV above hollow with D3, 0.07 eV without): the miss is
    the potential's, not the NEB's.
    """
    folder = _spec(tmp_path, "li")
    table = Campaign(folder, stream=False).run()
    (row,) = table
    assert row["converged"]
    assert row["barrier_fwd_eV"] == pytest.approx(0.072, abs=0.02)
    assert row["barrier_bwd_eV"] == pytest.approx(row["barrier_fwd_eV"], abs=0.01)
    assert (folder / "table.md").exists() and (folder / "profiles.png").exists()


# --- the diffusion kind ---------------------------------------------------------
def test_diffusion_reuses_the_band_of_the_barrier_task_and_adds_htst(tmp_path):
    from alkali_layers.calculators.diffusion import (
        diffusion_coefficient_cm2_s,
        hop_rate_per_s,
    )
    from alkali_layers.campaigns.kinds.barrier import (
        DiffusionOptions,
        run_diffusion,
    )
    from alkali_layers.campaigns.tasks import task_folder_name
    from alkali_layers.engines import MLIPSettings

    atoms = au_path()
    # Au hollows of Al(001): a square lattice, 4 neighbours, 2D
    a = float(np.linalg.norm(atoms.info["hop_target_A"] - atoms.positions[-1]))
    atoms.info.update(
        hop_multiplicity=4,
        diffusion_dimension=2,
        diffusing_species="metal atom",
        hop_length_A=a,
    )
    engine, settings = MLIPSettings(), RelaxSettings()
    options = DiffusionOptions(n_images=3)
    twin = RelaxTask(
        "au", "model", atoms, {}, kind="barrier", options=options.barrier_options()
    )
    twin_folder = tmp_path / task_folder_name(twin, twin.key(engine, settings))
    done = run_barrier(twin, engine, EMT(), settings, twin_folder)
    task = RelaxTask(
        "au", "model", atoms, {}, kind="diffusion", options=asdict(options)
    )
    folder = tmp_path / task_folder_name(task, task.key(engine, settings))
    outcome = run_diffusion(task, engine, EMT(), settings, folder)
    # the band was copied, not recomputed: same force calls, same barrier
    assert outcome.values["force_calls"] == done.values["force_calls"]
    assert outcome.values["barrier_fwd_eV"] == done.values["barrier_fwd_eV"]
    assert list(folder.glob("barrier.*.json"))
    # hop atom only (hessian_shell 0): 3 modes at each state, one unstable
    assert outcome.values["hessian_atoms"] == 1
    assert outcome.values["saddle_imaginary_THz"] < -0.1
    nu = outcome.values["prefactor_THz"]
    assert 0.5 < nu < 20
    htst = outcome.data["htst"]
    assert htst["prefactor_THz"] == pytest.approx(
        np.prod(htst["minimum_THz"]) / np.prod(sorted(htst["saddle_THz"])[1:])
    )
    # D(300 K) = z a^2 k / (2 d), a = the built hop length (half the 2x2 cell)
    k = hop_rate_per_s(nu, outcome.values["barrier_fwd_eV"], 300.0)
    assert outcome.values["D_300K_cm2_s"] == pytest.approx(
        diffusion_coefficient_cm2_s(k, a, 4, 2), rel=1e-6
    )
    assert outcome.values["diffusing_species"] == "metal atom"


def test_diffusion_options_validate_and_keep_the_neb_options():
    from alkali_layers.campaigns.kinds.barrier import DiffusionOptions

    options = DiffusionOptions(n_images=5, hessian_shell=1.2)
    assert options.barrier_options() == barrier_options(n_images=5)
    with pytest.raises(ValueError, match="hessian_shell"):
        DiffusionOptions(hessian_shell=-1)
    with pytest.raises(ValueError, match="delta_A"):
        DiffusionOptions(delta_A=0.5)
    with pytest.raises(ValueError, match="NEB method"):
        DiffusionOptions(method="nudge")


# --- the one-factor-at-a-time diagnosis (runs/barriers/li_graphene_diagnosis) -----
DIAGNOSIS = """
name = "diag"
analysis = "barrier_diagnosis"
[engine]
name = "mlip"
[relax]
fmax_eV_A = 0.05
gallery_prescan = false
[[models]]
label = "reference"
builder = "adatom_site"
tasks = ["relax"]
[models.grid]
site = ["hollow", "bridge"]
[models.params]
metal = "Li"
[[models]]
label = "no_d3"
builder = "adatom_site"
tasks = ["relax"]
[models.grid]
site = ["bridge"]
[models.params]
metal = "Li"
[models.engine]
dispersion = "none"
"""


@pytest.mark.slow
def test_diagnosis_campaign_keeps_the_site_and_tabulates_by_factor(tmp_path):
    """Constrained site relaxations of Li on graphene with 7net-0 (+ D3(BJ) and
    without D3) through a campaign: the constraint travels with the task (the
    adatom stays above its site, the anchor carbon keeps its x, y), the adatom
    relaxes to a bonded height, and the table's E(bridge) - E(hollow) is the
    difference of the stored energies."""
    from alkali_layers.analysis.barrier_diagnosis import adatom_height_A

    folder = tmp_path / "diag"
    folder.mkdir()
    (folder / "campaign.toml").write_text(textwrap.dedent(DIAGNOSIS))
    campaign = Campaign(folder, stream=False)
    campaign.run()
    energies = {}
    for entry in campaign.entries():
        row = campaign.store.find(entry.key)
        assert row is not None and row.get("status") == "ok", entry.label
        built, relaxed = entry.task.atoms, row.toatoms()
        (constraint,) = built.constraints
        for i in constraint.index:
            assert relaxed.positions[i, :2] == pytest.approx(
                built.positions[i, :2], abs=1e-6
            )
        height = adatom_height_A(relaxed, built.info["hop_atom"])
        assert 1.4 < height < 2.4, (entry.label, height)  # Li-graphene: ~1.7 A
        energies[entry.label] = row.get("energy")
    ref, no_d3 = (folder / "table.csv").read_text().splitlines()[1:]
    cells = ref.split(",")
    assert cells[0] == "reference" and cells[2] == "3"
    expected = energies["reference-bridge"] - energies["reference-hollow"]
    assert float(cells[5]) == pytest.approx(expected, abs=1e-3)
    assert expected > 0  # the hollow is the preferred site
    assert no_d3.startswith("no_d3,SevenNet 7net-0,")


def test_dft_only_band_task_reuses_the_endpoints_of_its_ml_start_twin(
    tmp_path, monkeypatch
):
    """``gpaw_band_start = "idpp"`` (EMT standing in for GPAW): a task of its own
    (own key, the default keeps the old keys), which copies the relaxed endpoints
    of the ML-start task of the same path and then spends GPAW calls on its band
    only; the table columns say which start and how many band calls."""
    from alkali_layers.campaigns.tasks import task_folder_name
    from alkali_layers.engines import DFTProtocol, MLIPSettings
    from alkali_layers.engines import gpaw as gpaw_engine

    monkeypatch.setattr(gpaw_engine, "gpaw_calculator", lambda *a, **k: (EMT(), None))
    engine = DFTProtocol(prerelax=MLIPSettings())
    settings = RelaxSettings()
    assert "gpaw_band_start" not in barrier_options(n_images=3)
    tasks = {
        start: RelaxTask(
            "au",
            "model",
            au_path(),
            {},
            kind="barrier",
            options=barrier_options(n_images=3, max_steps=300, gpaw_band_start=start),
        )
        for start in ("ml", "idpp")
    }
    keys = {s: t.key(engine, settings) for s, t in tasks.items()}
    assert keys["ml"] != keys["idpp"]
    folders = {s: tmp_path / task_folder_name(t, keys[s]) for s, t in tasks.items()}
    staged = run_barrier(tasks["ml"], engine, EMT(), settings, folders["ml"])
    only = run_barrier(tasks["idpp"], engine, EMT(), settings, folders["idpp"])
    assert staged.ok and only.ok and staged.converged and only.converged
    for name in ("endpoints.traj", "endpoint-gpaw-initial.traj"):
        assert (folders["idpp"] / name).exists()
    # endpoints copied: no ML call and no GPAW endpoint call in the DFT-only task
    assert "force_calls_mlip" not in only.values
    assert only.values["force_calls_gpaw"] == only.values["band_force_calls_gpaw"]
    assert only.values["gpaw_band_start"] == "idpp"
    assert staged.values["gpaw_band_start"] == "ml"
    assert staged.values["band_force_calls_gpaw"] < only.values["band_force_calls_gpaw"]
    assert only.values["barrier_fwd_eV"] == pytest.approx(
        staged.values["barrier_fwd_eV"], abs=0.005
    )
    with pytest.raises(ValueError, match="gpaw_band_start"):
        BarrierOptions(gpaw_band_start="dft")


def test_table_tells_the_dft_only_band_from_the_ml_start_one():
    staged = _row("graphene_hop", "Na", None, 0.1) | {
        "engine": "gpaw",
        "ml_barrier_fwd_eV": 0.01,
    }
    only = _row("graphene_hop", "Na", None, 0.11) | {
        "engine": "gpaw",
        "gpaw_band_start": "idpp",
    }
    table = barrier_table([staged, only])
    assert sorted(r["engine"] for r in table) == ["gpaw", "gpaw (DFT-only band)"]
    assert {r["ml_barrier_fwd_eV"] for r in table} == {0.01, None}
