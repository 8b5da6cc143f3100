"""The ``phonons`` task kind (options in the key, relax + phonons resumable from the
task folder) and the ``phonons`` layout (table, band figures, F_vib figure)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.campaigns.kinds.phonons import (
    PHONOPY_DIR,
    RELAXED_FILE,
    RESULT_FILE,
    PhononOptions,
    phonon_options,
    run_phonons,
    write_phonon_outputs,
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
    campaign = SimpleNamespace(root=tmp_path, model_rows=lambda: ([row], []))
    table = write_phonon_outputs(campaign)
    assert table[0]["dynamically_stable"] is True
    text = (Path(tmp_path) / "table.md").read_text()
    assert "Cu-fcc" in text and "lowest_frequency_THz" in text
    assert (tmp_path / "bands" / "Cu-fcc.png").stat().st_size > 1000
    assert (tmp_path / "fvib.png").exists() and (tmp_path / "table.csv").exists()
