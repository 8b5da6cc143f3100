import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list

from alkali_layers.builders import closed_pore, wedge_pore
from alkali_layers.builders.sites import enumerate_sites
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.settings import structure_hash
from alkali_layers.workflows.filling import (
    FillingResult,
    FillingSettings,
    FillingStep,
    candidate_sets,
    host_counts,
    same_path,
    sequential_filling,
)

RESULTS = Path(__file__).resolve().parents[2] / "runs" / "hard_carbon" / "results"


class ToyMetalCalculator(Calculator):
    """Morse pairs metal-metal and metal-host; the host is rigid (zero forces).

    Cheap and deterministic: enough to test the filling machinery, not physics.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, metal="Na", **kwargs):
        super().__init__(**kwargs)
        self.metal = metal

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        is_metal = np.array(self.atoms.get_chemical_symbols()) == self.metal
        i, j, d, vec = neighbor_list("ijdD", self.atoms, 6.0)
        keep = is_metal[i]
        i, j, d, vec = i[keep], j[keep], d[keep], vec[keep]
        mm = is_metal[j]
        depth = np.where(mm, 0.40, 0.12)
        r0 = np.where(mm, 3.7, 2.7)
        ex = np.exp(-1.1 * (d - r0))
        pair = depth * (ex**2 - 2 * ex)
        # metal-metal pairs are counted twice (i->j and j->i)
        energy = np.sum(np.where(mm, 0.5, 1.0) * pair)
        dedr = depth * (-2.2 * ex**2 + 2.2 * ex)
        f = np.zeros((len(self.atoms), 3))
        fij = (np.where(mm, 0.5, 1.0) * dedr / d)[:, None] * vec
        np.add.at(f, i, fij)
        np.add.at(f, j, -fij)
        f[~is_metal] = 0.0
        self.results = {"energy": float(energy), "forces": f}


FAST = RelaxSettings(fmax_eV_A=0.05, max_steps=60, gallery_prescan=False)


def tiny_pore():
    return closed_pore(0.8, size=(2, 2))


def run(seed=0, **kw):
    settings = FillingSettings(
        atoms_per_step=kw.pop("atoms_per_step", 1),
        n_max=kw.pop("n_max", 3),
        relax=FAST,
        seed=seed,
        stop_below_V=None,
        **kw,
    )
    return sequential_filling(
        tiny_pore(), "Na", ToyMetalCalculator, settings, mu_metal_eV=-0.8
    )


def test_filling_is_deterministic_for_a_seed():
    a, b = run(seed=3), run(seed=3)
    assert a.path == b.path
    assert a.energy_eV == pytest.approx(b.energy_eV, abs=1e-10)
    assert a.n_metal == [0, 1, 2, 3]
    assert same_path(a, b)


def test_filling_records_energies_path_and_voltages():
    res = run(atoms_per_step=2, n_max=4)
    assert res.n_metal == [0, 2, 4]
    assert res.path[0] == "start"
    for prev, step in zip(res.steps[:-1], res.steps[1:], strict=True):
        # V = -(E(n) - E(n - k) - k mu) / k with mu = -0.8 eV
        k = step.n_metal - prev.n_metal
        assert step.voltage_step_V == pytest.approx(
            -(step.energy_eV - prev.energy_eV + 0.8 * k) / k
        )
        assert step.n_candidates >= 2
        assert len(step.relaxed) <= FillingSettings().n_relax  # only the best few
        assert step.ranking == sorted(step.ranking, key=lambda t: t[1])
    assert len(res.structures) == 3
    assert res.structures[-1].get_chemical_symbols().count("Na") == 4
    prof = res.voltage_profile()
    assert prof.steps[0].n1 == 0


def test_exhaustive_search_relaxes_every_candidate():
    cheap = run(seed=1, n_relax=1, n_max=2)
    full = run(seed=1, exhaustive=True, n_max=2)
    step = full.steps[1]
    assert len(step.relaxed) + len(step.failed) == step.n_candidates
    # the first step starts from the same structure: exhaustive is never worse
    assert full.steps[1].energy_eV <= cheap.steps[1].energy_eV + 1e-9
    # relaxing as many as there are candidates is the exhaustive search
    wide = run(seed=1, n_relax=12, n_max=2)
    assert same_path(wide, full)


def test_filling_result_round_trips_through_json(tmp_path):
    res = run(n_max=2)
    path = res.write(tmp_path / "na.json")
    data = json.loads(path.read_text())
    assert [s["n_metal"] for s in data["steps"]] == [0, 1, 2]
    assert (tmp_path / "na.traj").exists()
    # the pore by structure hash, the trajectory by frame count and sha256
    assert data["pore_hash"] == structure_hash(tiny_pore())
    assert data["traj_frames"] == 3 and len(data["traj_sha256"]) == 64
    back = FillingResult.read(path)
    assert back.pore_hash == res.pore_hash and len(back.structures) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["na.json", "na.traj"]


def test_candidates_cover_kinds_and_growth_modes():
    pore = wedge_pore(vacancies=("single",), seed=2)
    sites = enumerate_sites(pore, "Na")
    rng = np.random.default_rng(0)
    cands = candidate_sets(
        pore, sites, "Na", 2, rng, FillingSettings(max_candidates=20)
    )
    labels = {c.label.split("/")[0] for c in cands}
    assert {"edge", "interlayer", "pore", "random"} <= labels
    assert any(c.label == "pore/plate" for c in cands)
    # two sites of one candidate never closer than 0.9 x the Na-Na distance
    for c in cands:
        p = np.array([s.position_A for s in c.sites])
        assert np.linalg.norm(p[0] - p[1]) >= 0.9 * 3.769 - 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(atoms_per_step=0), "atoms_per_step"),
        (dict(n_relax=0), "n_relax"),
        (dict(kinds=("hollow",)), "unknown site kind"),
        (dict(modes=("heap",)), "allowed: cluster, plate, sandwich"),
        (dict(n_max=0), "n_max"),
    ],
)
def test_filling_settings_reject_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FillingSettings(**kwargs)


@pytest.mark.slow
def test_filling_with_7net0_on_a_small_pore(mlip):
    # two Na into a 0.8 nm slit (2 x 2 cells, 32 C).  A lone Na on pristine
    # graphene binds more weakly than in bulk Na (DFT says so too), so the first
    # step sits below 0 V: measured -0.16 V with 7net-0 + D3(BJ)
    settings = FillingSettings(
        n_max=2,
        atoms_per_step=1,
        max_candidates=4,
        n_random=0,
        n_relax=1,
        relax=RelaxSettings(fmax_eV_A=0.1, max_steps=40, gallery_prescan=False),
    )
    res = sequential_filling(tiny_pore(), "Na", mlip, settings)
    assert res.n_metal == [0, 1, 2]
    assert res.mu_metal_eV == pytest.approx(-1.47, abs=0.02)  # bcc Na, measured
    assert -0.5 < res.steps[1].voltage_step_V < 0.2
    assert res.steps[2].voltage_step_V == pytest.approx(
        -(res.energy_eV[2] - res.energy_eV[1] - res.mu_metal_eV)
    )


def test_interrupted_filling_resumes_to_the_same_path(tmp_path):
    """A filling stopped after its first step and resumed from the checkpoint files
    (JSON + .traj) ends exactly where the uninterrupted run ends: same path, same
    energies, same random candidates (the generator state is restored)."""
    settings = FillingSettings(
        atoms_per_step=1, n_max=3, relax=FAST, seed=5, n_random=2, stop_below_V=None
    )
    full = sequential_filling(
        tiny_pore(), "Na", ToyMetalCalculator, settings, mu_metal_eV=-0.8
    )
    partial = tmp_path / "na.partial.json"

    class Interrupt(Exception):
        pass

    def stop_after_first(result):
        result.write(partial)
        raise Interrupt  # the job is killed right after the checkpoint

    with pytest.raises(Interrupt):
        sequential_filling(
            tiny_pore(),
            "Na",
            ToyMetalCalculator,
            settings,
            mu_metal_eV=-0.8,
            checkpoint=stop_after_first,
        )
    lines = []
    resumed = sequential_filling(
        tiny_pore(),
        "Na",
        ToyMetalCalculator,
        settings,
        resume=partial,
        progress=lines.append,
    )
    assert "resumed at n = 1" in lines[0]
    assert resumed.n_metal == full.n_metal == [0, 1, 2, 3]
    assert resumed.path == full.path
    assert resumed.energy_eV == pytest.approx(full.energy_eV, abs=1e-10)
    assert [s.ranking for s in resumed.steps] == [s.ranking for s in full.steps]
    assert len(resumed.structures) == 4


def test_resume_refuses_another_filling(tmp_path):
    settings = FillingSettings(
        atoms_per_step=1, n_max=1, relax=FAST, seed=5, stop_below_V=None
    )
    res = sequential_filling(
        tiny_pore(), "Na", ToyMetalCalculator, settings, mu_metal_eV=-0.8
    )
    path = res.write(tmp_path / "na.json")
    other = FillingSettings(
        atoms_per_step=1, n_max=2, relax=FAST, seed=6, stop_below_V=None
    )
    with pytest.raises(ValueError, match="other FillingSettings"):
        sequential_filling(tiny_pore(), "Na", ToyMetalCalculator, other, resume=path)
    with pytest.raises(ValueError, match="metal Na, not K"):
        sequential_filling(tiny_pore(), "K", ToyMetalCalculator, settings, resume=path)
    with pytest.raises(ValueError, match="another pore"):
        sequential_filling(
            closed_pore(1.0, wall_sheets=1, size=(2, 2)),
            "Na",
            ToyMetalCalculator,
            settings,
            resume=path,
        )
    path.with_suffix(".traj").unlink()
    with pytest.raises(ValueError, match="na.traj, which is missing"):
        sequential_filling(tiny_pore(), "Na", ToyMetalCalculator, settings, resume=path)


# ------------------------------------------------------------- checkpoints
HAND_SETTINGS = FillingSettings(
    atoms_per_step=1, n_max=1, relax=FAST, seed=5, stop_below_V=None
)


def handmade(pore, n_steps=1, settings=HAND_SETTINGS):
    """A filling result of ``n_steps`` steps built by hand (no calculation)."""
    steps = [FillingStep(0, -10.0, "start", "", [])]
    structures = [pore.copy()]
    z = pore.cell[2, 2] / 2
    for n in range(1, n_steps + 1):
        added = [1.0 + 3.0 * n, 1.0, z]
        steps.append(FillingStep(n, -10.0 - n, f"pore/{n}", "pore", [added]))
        filled = structures[-1].copy()
        filled += Atoms("Na", positions=[added], tags=[11])
        structures.append(filled)
    return FillingResult(
        metal="Na",
        mu_metal_eV=-0.8,
        host_counts=host_counts(pore, "Na"),
        settings=settings.to_dict(),
        steps=steps,
        structures=structures,
        rng_state=np.random.default_rng(settings.seed).bit_generator.state,
        pore_hash=structure_hash(pore),
    )


def resume_from(pore, path):
    return sequential_filling(
        pore, "Na", ToyMetalCalculator, HAND_SETTINGS, resume=path
    )


def test_resume_refuses_another_pore_of_the_same_formula(tmp_path):
    """Guards the pore identity of a checkpoint: it was the formula, so the
    checkpoint of a C32 0.8 nm pore resumed into a C32 1.2 nm pore.  It is the
    structure hash of the empty pore now."""
    path = handmade(tiny_pore()).write(tmp_path / "na.partial.json")
    other = closed_pore(1.2, size=(2, 2))
    assert other.get_chemical_formula() == tiny_pore().get_chemical_formula()
    with pytest.raises(ValueError, match=r"another pore \(structure hash"):
        resume_from(other, path)
    # the same pore resumes (n_max is reached: nothing left to compute)
    assert resume_from(tiny_pore(), path).n_metal == [0, 1]


def test_checkpoint_without_pore_hash_resumes_by_formula_with_a_warning(tmp_path):
    """Checkpoints written before the hash was recorded (as the committed results)
    still resume when the formula matches, with a warning that the pore is
    unverified; another formula is still refused."""
    path = handmade(tiny_pore()).write(tmp_path / "na.partial.json")
    data = json.loads(path.read_text())
    for key in ("pore_hash", "traj_frames", "traj_sha256"):
        del data[key]
    path.write_text(json.dumps(data))
    assert FillingResult.read(path).pore_hash is None
    with pytest.warns(UserWarning, match="formula only"):
        assert resume_from(tiny_pore(), path).n_metal == [0, 1]
    with pytest.raises(ValueError, match=r"another pore \(C32, not C16\)"):
        resume_from(closed_pore(0.8, wall_sheets=1, size=(2, 2)), path)


def test_torn_checkpoint_is_refused(tmp_path, monkeypatch):
    """Guards the checkpoint pair (JSON + .traj) as one unit: a job killed after the
    new trajectory was renamed into place but before the JSON was left a pair
    that read as one result.  The JSON records the trajectory's sha256, and a
    torn pair is refused when read and when resumed."""
    path = tmp_path / "na.partial.json"
    handmade(tiny_pore(), n_steps=1).write(path)
    real_replace = Path.replace

    def killed_before_json(self, target):
        if Path(target).suffix == ".json":
            raise KeyboardInterrupt("killed between the two renames")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", killed_before_json)
    with pytest.raises(KeyboardInterrupt):
        handmade(tiny_pore(), n_steps=2).write(path)
    monkeypatch.undo()
    assert len(json.loads(path.read_text())["steps"]) == 2  # the old JSON
    with pytest.raises(ValueError, match="is not the trajectory.*torn pair"):
        FillingResult.read(path)
    with pytest.raises(ValueError, match="cannot resume the Na filling.*torn"):
        resume_from(tiny_pore(), path)
    FillingResult.discard(path)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(
    not (RESULTS / "closed-Na.json").exists(), reason="no committed results"
)
def test_committed_results_without_the_new_fields_still_read():
    res = FillingResult.read(RESULTS / "closed-Na.json")
    assert res.pore_hash is None
    assert len(res.structures) == len(res.steps) > 1


def test_same_path_uses_the_minimum_image():
    """Guards ``same_path`` against a wrapped atom: the same site on either side of
    the periodic boundary (x = -0.1 and x = L - 0.1) compared as different."""
    a = handmade(tiny_pore())
    b = handmade(tiny_pore())
    length = tiny_pore().cell[0, 0]
    x, y, z = a.steps[1].added_A[0]
    a.steps[1].added_A = [[-0.1, y, z]]
    b.steps[1].added_A = [[length - 0.1, y, z]]
    b.steps[1].energy_eV += 0.1  # beyond tol_eV: only the sites can match
    assert same_path(a, b)
    assert same_path(b, a)
    b.steps[1].added_A = [[length / 2, y, z]]  # really another site
    assert not same_path(a, b)
    # without structures the cell is passed explicitly
    a.structures, b.structures = [], []
    b.steps[1].added_A = [[length - 0.1, y, z]]
    assert not same_path(a, b)  # plain distances: 5 A apart
    assert same_path(a, b, cell=tiny_pore().cell, pbc=True)
