"""The ``phonons`` task kind (options in the key, relax + phonons resumable from the
task folder), the ``phonons`` layout (table, band figures, F_vib figure), the
``filling_structure`` builder and the pore voltage steps with F_vib."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.campaigns.kinds.phonons import (
    PHONOPY_DIR,
    README_BEGIN,
    README_END,
    RELAXED_FILE,
    RESULT_FILE,
    PhononOptions,
    filling_structure,
    phonon_options,
    run_phonons,
    write_mode_comparison,
    write_phonon_outputs,
    write_pore_voltage_outputs,
)
from alkali_layers.campaigns.registry import task_kind
from alkali_layers.campaigns.tasks import RelaxTask


class CountingEMT(EMT):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        self.calls += 1
        super().calculate(atoms, properties, system_changes)


def _task(options=None):
    atoms = bulk("Cu", "fcc", a=3.65)  # EMT minimum near 3.59 A: relax moves it
    atoms.info.update(host="bulk", metal="")
    return RelaxTask(
        "Cu-fcc",
        "model",
        atoms,
        kind="phonons",
        options=phonon_options(**(options or {})),
    )


def test_options_enter_the_key_and_bad_values_are_refused():
    kind = task_kind("phonons")
    assert kind.options is PhononOptions
    defaults = kind.options_dict({})
    assert defaults["displacement_A"] == 0.01 and defaults["relax_first"] is True
    assert kind.options_dict({"supercell": [4, 4, 4]})["supercell"] == [4, 4, 4]
    with pytest.raises(ValueError, match="displacement_A"):
        kind.options_dict({"displacement_A": 1.0})
    with pytest.raises(ValueError, match="unknown option"):
        kind.options_dict({"mesh": 10})
    from alkali_layers.engines import MLIPSettings

    engine, relax = MLIPSettings(), RelaxSettings()
    assert _task().key(engine, relax) != _task({"supercell": [3, 3, 3]}).key(
        engine, relax
    )


def test_task_relaxes_then_resumes_from_its_folder(tmp_path):
    task = _task({"supercell": [3, 3, 3]})
    calc = CountingEMT()
    outcome = run_phonons(task, None, calc, RelaxSettings(fmax_eV_A=0.001), tmp_path)
    assert outcome.ok and outcome.converged
    assert (tmp_path / RELAXED_FILE).exists() and (tmp_path / RESULT_FILE).exists()
    assert list((tmp_path / PHONOPY_DIR / "forces").glob("disp-*.json"))
    v = outcome.values
    assert v["dynamically_stable"] is True
    assert v["phonon_supercell"] == "3 3 3"
    assert v["f_vib_300K_eV_per_atom"] == pytest.approx(v["f_vib_300K_eV"])
    assert abs(outcome.data["phonons"]["gamma_acoustic_max_abs_THz"]) < 1e-3
    # the relaxed lattice differs from the built one
    assert outcome.atoms.get_volume() < task.atoms.get_volume()
    again = CountingEMT()
    second = run_phonons(task, None, again, RelaxSettings(fmax_eV_A=0.001), tmp_path)
    assert again.calls == 0
    assert second.values.keys() == v.keys()
    for key, value in v.items():  # the relaxed cell went through JSON: 1e-15 noise
        if isinstance(value, float):
            assert second.values[key] == pytest.approx(value, rel=1e-9, abs=1e-6)
        else:
            assert second.values[key] == value


def test_layout_writes_table_and_figures(tmp_path):
    outcome = run_phonons(
        _task({"supercell": [2, 2, 2]}), None, EMT(), RelaxSettings(), None
    )
    row = {
        "label": "Cu-fcc",
        "formula": "Cu",
        "n_atoms": 1,
        "energy_eV": outcome.energy_eV,
        "host": "bulk",
        **outcome.values,
        "data": outcome.data,
    }
    campaign = SimpleNamespace(
        root=tmp_path, model_rows=lambda: ([row], []), entries=lambda: []
    )
    table = write_phonon_outputs(campaign)
    assert table[0]["dynamically_stable"] is True
    text = (Path(tmp_path) / "table.md").read_text()
    assert "Cu-fcc" in text and "lowest_frequency_THz" in text
    assert (tmp_path / "bands" / "Cu-fcc.png").stat().st_size > 1000
    assert (tmp_path / "fvib.png").exists() and (tmp_path / "table.csv").exists()


def test_late_dft_options_enter_the_key_only_when_set():
    from alkali_layers.engines import DFTProtocol, MLIPSettings

    kind = task_kind("phonons")
    # the keys of tasks computed before the dft_* options existed stay valid
    assert set(kind.options_dict({})) == {
        "supercell",
        "min_length_A",
        "displacement_A",
        "relax_first",
        "imaginary_tolerance_THz",
    }
    set_ = kind.options_dict({"dft_kpt_density": 4.7, "dft_ecut_eV": 400})
    assert set_["dft_kpt_density"] == 4.7 and set_["dft_ecut_eV"] == 400.0
    engine, relax = MLIPSettings(), RelaxSettings()
    assert _task().key(engine, relax) != _task({"dft_kpt_density": 4.7}).key(
        engine, relax
    )
    with pytest.raises(ValueError, match="dft_kpt_density"):
        kind.options_dict({"dft_kpt_density": -1})
    # GPAW: the displaced supercells get the overrides, the rest of the preset stays
    protocol = DFTProtocol()
    options = PhononOptions(dft_kpt_density=4.7, dft_ecut_eV=400.0)
    final = options.dft_engine(protocol).final
    assert (final.kpt_density, final.ecut_eV) == (4.7, 400.0)
    assert final.xc == protocol.final.xc
    assert PhononOptions().dft_engine(protocol) is protocol
    assert options.dft_engine(engine) is engine  # ML engines ignore them


def test_filling_structure_reads_one_step_of_a_filling(tmp_path):
    from ase.io import write

    frames = []
    for n in (0, 2):
        atoms = bulk("Cu", "fcc", a=3.6) * (1, 1, n + 1)
        atoms.info.update(host="closed_pore", n_metal=n)
        frames.append(atoms)
    write(tmp_path / "closed-Na.traj", frames)
    atoms = filling_structure("closed-Na", 2, results=str(tmp_path))
    assert len(atoms) == 3 and atoms.info["filling"] == "closed-Na"
    assert atoms.info["host"] == "closed_pore"
    assert atoms.info["source"].endswith("closed-Na.traj#n_metal=2")
    with pytest.raises(ValueError, match=r"steps: \[0, 2\]"):
        filling_structure("closed-Na", 1, results=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run the filling first"):
        filling_structure("closed-K", 0, results=str(tmp_path))


def _constant_free_energy(template: dict, f_eV: float, gamma_THz: list) -> dict:
    data = dict(template)
    data["free_energy_eV"] = [f_eV] * len(template["temperatures_K"])
    data["commensurate_frequencies_THz"] = [gamma_THz] if gamma_THz else []
    data["supercell_matrix"] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    return data


def test_pore_voltage_outputs_by_hand(tmp_path):
    import json

    template = run_phonons(
        _task({"supercell": [2, 2, 2]}), None, EMT(), RelaxSettings(), None
    ).data["phonons"]
    filling = {
        "metal": "Na",
        "mu_metal_eV": -1.3,
        "host_counts": {"C": 64},
        "steps": [
            {"n_metal": 0, "energy_eV": -400.0},
            {"n_metal": 4, "energy_eV": -406.0},
        ],
    }
    (tmp_path / "closed-Na.json").write_text(json.dumps(filling))
    source = str(tmp_path / "closed-Na.traj")

    def pore(n, energy, f, gamma):
        return {
            "label": f"pore-{n}",
            "n_atoms": 64 + n,
            "energy_eV": energy,
            "filling": "closed-Na",
            "n_metal": n,
            "source": f"{source}#n_metal={n}",
            "data": {"phonons": _constant_free_energy(template, f, gamma)},
        }

    rows = [
        {
            "label": "bulk_metal-Na",
            "host": "bulk",
            "metal": "Na",
            "n_atoms": 2,
            "energy_eV": -2.6,
            "data": {"phonons": _constant_free_energy(template, -0.16, [])},
        },
        # re-relaxed energies 0.1 eV below the filling's for n = 4; Γ modes 10 THz
        pore(0, -400.0, 9.0, [0.0, 10.0]),
        pore(4, -406.1, 9.1, [0.0, 10.0, 10.0]),
    ]
    table = write_pore_voltage_outputs(tmp_path, rows, 300.0)
    (r,) = table
    # filling: -(-406 + 400 + 5.2)/4 = 0.2 V; re-relaxed: -(-406.1 + 400 + 5.2)/4
    # = 0.225 V; 300 K: -[(-406.1 + 9.1) - (-400 + 9.0) - 4 (-1.3 - 0.08)]/4
    # = -(-6.0 + 5.52)/4 = 0.12 V; Γ only: F(4) - F(0) = one 10 THz mode
    # (0.0148466 eV, test_thermo): -(-6.1 + 0.0148466 + 5.52)/4 = 0.1412884 V
    assert r["voltage_V_filling"] == pytest.approx(0.2)
    assert r["voltage_V"] == pytest.approx(0.225)
    assert r["voltage_V_300K"] == pytest.approx(0.12)
    assert r["delta_V_300K"] == pytest.approx(-0.105)
    assert r["voltage_V_300K_gamma"] == pytest.approx(0.1412884, abs=1e-6)
    assert r["sign_change"] is False and r["same_hull_step"] is True
    assert r["f_vib_metal_300K_eV_per_atom"] == pytest.approx(-0.08)
    text = (tmp_path / "pore_voltage_300K.md").read_text()
    assert "| closed-Na | 0 → 4 | +0.200 | +0.225 | +0.120 | -0.105 |" in text
    assert (tmp_path / "pore_voltage_300K_closed-Na.png").stat().st_size > 1000
    # results stored before the commensurate frequencies were: no Γ-only column
    rows[1]["data"]["phonons"]["commensurate_frequencies_THz"] = []
    (r,) = write_pore_voltage_outputs(tmp_path, rows, 300.0)
    assert r["voltage_V_300K_gamma"] is None
    assert r["voltage_V_300K"] == pytest.approx(0.12)
    assert "| n/a |" in (tmp_path / "pore_voltage_300K.md").read_text()


def test_gpaw_overrides_reach_the_displaced_supercells_only(tmp_path, monkeypatch):
    # GPAW replaced by EMT behind dft_single_point: records the settings of each
    # call (the reference single point, then the displaced supercells)
    import alkali_layers.calculators.staged as staged
    from alkali_layers.engines import DFTProtocol

    calls = []

    def fake_single_point(atoms, settings, txt=None):
        calls.append((len(atoms), settings.kpt_density, settings.ecut_eV))
        work = atoms.copy()
        work.calc = EMT()
        return work.get_potential_energy(), work.get_forces(), 1, settings

    monkeypatch.setattr(staged, "dft_single_point", fake_single_point)
    task = _task(
        {
            "supercell": [2, 2, 2],
            "relax_first": False,
            "dft_kpt_density": 4.7,
            "dft_ecut_eV": 400.0,
        }
    )
    protocol = DFTProtocol()
    outcome = run_phonons(task, protocol, None, RelaxSettings(), tmp_path)
    assert outcome.ok and outcome.values["n_displacements"] == 1
    final = protocol.final
    assert calls == [(1, final.kpt_density, final.ecut_eV), (8, 4.7, 400.0)]


class _FakeCampaign:
    """What write_mode_comparison reads of a Campaign: root, tasks_dir, spec.engine,
    entries() and store.find(key); built from a folder like the real one."""

    registry: dict = {}

    def __init__(self, root, stream=None):
        self.root = Path(root)
        self.tasks_dir = self.root / "tasks"
        engine_name, self._entries = self.registry[str(self.root)]
        self.spec = SimpleNamespace(
            engine=SimpleNamespace(describe=lambda: engine_name)
        )
        self.store = SimpleNamespace(find=lambda key: {"status": "ok"})

    def entries(self):
        return self._entries


def test_mode_comparison_with_the_twin_campaign_goes_into_the_readme(tmp_path):
    from ase.build import bulk as build

    from alkali_layers.calculators.phonons import phonons

    for name, a in (("study", 3.59), ("study_ml", 3.62)):
        root = tmp_path / name
        options = phonon_options(supercell=[2, 2, 2])
        phonons(
            build("Cu", "fcc", a=a),
            EMT(),
            supercell=(2, 2, 2),
            folder=root / "tasks" / "Cu-fcc.abc123" / PHONOPY_DIR,
        )
        task = SimpleNamespace(kind="phonons", options=options)
        entry = SimpleNamespace(label="Cu-fcc", key="abc123", task=task)
        _FakeCampaign.registry[str(root)] = (f"engine {name}", [entry])
        (root / "campaign.toml").write_text("")
    root = tmp_path / "study"
    (root / "README.md").write_text(
        f"intro\n{README_BEGIN}\nold text\n{README_END}\noutro\n"
    )
    rows = write_mode_comparison(_FakeCampaign(root))
    # fcc has Γ and K (3/8, 3/8, 3/4) but no M: K is interpolated in 2x2x2, and
    # kept (flagged) since the supercell is more than one cell
    assert [r["point"] for r in rows] == ["Γ"] * 3 + ["K"] * 3
    assert [r["commensurate"] for r in rows] == [True] * 3 + [False] * 3
    assert all(r["overlap"] == pytest.approx(1.0, abs=1e-3) for r in rows)
    readme = (root / "README.md").read_text()
    assert readme.startswith("intro\n") and readme.endswith(f"{README_END}\noutro\n")
    assert "old text" not in readme and "### Cu-fcc (supercell 2 2 2)" in readme
    assert "| K | 2 |" in readme and "interp. |" in readme
    assert "engine study_ml" in readme and (root / "modes.csv").exists()
    # no twin: nothing written
    assert write_mode_comparison(_FakeCampaign(tmp_path / "study_ml")) == []


def test_force_sets_travel_in_the_database_and_rebuild_a_lost_task_folder(tmp_path):
    """Task folders are scratch (not committed): a finished phonons row carries the
    force sets, the comparison rebuilds the folder from them with the same force
    constants, and rows stored before that are completed from surviving folders."""
    import shutil

    from alkali_layers.calculators.phonons import load_phonopy
    from alkali_layers.campaigns.kinds.phonons import (
        PHONOPY_INPUTS,
        _phonopy_folder,
        store_phonopy_inputs,
    )
    from alkali_layers.campaigns.store import ResultStore

    task = _task({"supercell": [2, 2, 2], "relax_first": False})
    folder = tmp_path / "tasks" / "Cu-fcc.abc123"
    folder.mkdir(parents=True)  # the worker makes the task folder
    outcome = run_phonons(task, None, EMT(), RelaxSettings(), folder)
    inputs = outcome.data[PHONOPY_INPUTS]
    assert len(inputs["forces_eV_A"]) == outcome.values["n_displacements"]
    fc = load_phonopy(folder / PHONOPY_DIR).force_constants
    store = ResultStore(tmp_path / "results.db")
    store.record("abc123", outcome.atoms, {"label": "Cu-fcc"}, outcome.data)
    entry = SimpleNamespace(label="Cu-fcc", key="abc123", task=task)
    campaign = SimpleNamespace(
        tasks_dir=tmp_path / "tasks", store=store, entries=lambda: [entry]
    )
    shutil.rmtree(tmp_path / "tasks")
    rebuilt = _phonopy_folder(campaign, "abc123")
    assert rebuilt.parent.name == "from-db.abc123"
    assert np.allclose(load_phonopy(rebuilt).force_constants, fc, atol=1e-12)
    # a row without force sets (stored earlier) gains them from its folder
    store.delete("abc123")
    data = {k: v for k, v in outcome.data.items() if k != PHONOPY_INPUTS}
    store.record("abc123", outcome.atoms, {"label": "Cu-fcc"}, data)
    assert PHONOPY_INPUTS not in store.find("abc123").data
    assert store_phonopy_inputs(campaign) == ["Cu-fcc"]
    row = store.find("abc123")
    assert row.data[PHONOPY_INPUTS]["forces_eV_A"] == inputs["forces_eV_A"]
    assert "phonons" in row.data  # what was stored stays
    assert store_phonopy_inputs(campaign) == []  # nothing left to add
