"""The two-preset gap of a staged GPAW campaign, on a hand-made campaign directory
(quick: no engine; hand-computed formation energies)."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import Trajectory

from alkali_layers.analysis.presets import preset_gap, write_preset_gap
from alkali_layers.campaigns.store import ResultStore


def _atoms(symbols, energy, forces, shift=0.0):
    atoms = Atoms(
        symbols,
        positions=[[i * 1.5 + shift, 0, 0] for i in range(len(symbols))],
        cell=[10, 10, 10],
        pbc=True,
    )
    atoms.calc = SinglePointCalculator(
        atoms, energy=energy, forces=np.full((len(symbols), 3), forces)
    )
    return atoms


def _task(root, store, label, key, symbols, e_relax, e_final, kvp, moved=False):
    """A task whose last relaxation step (relax preset) is the stored geometry
    (final preset), unless ``moved``."""
    folder = root / "tasks" / f"{label}.{key}"
    folder.mkdir(parents=True)
    with Trajectory(str(folder / "gpaw-relax.traj"), "w") as traj:
        traj.write(_atoms(symbols, e_relax + 1.0, 0.3, shift=0.1))  # earlier step
        traj.write(_atoms(symbols, e_relax, 0.02, shift=0.05 if moved else 0.0))
    final = _atoms(symbols, e_final, 0.01)
    data = {"outcome": {"dft_forces_eV_A": final.get_forces().tolist()}}
    kvp = {"label": label, "engine": "gpaw", "task_key": key, **kvp}
    store.record(key, final, kvp, data)


def _bcc_na(root, store):
    """bcc Na reference: -1.20 eV at the relaxation preset, -1.30 eV final."""
    kvp = {"role": "reference", "host": "bulk", "metal": "Na"}
    _task(root, store, "bulk-Na", "k1", ["Na"], -1.20, -1.30, kvp)


def test_preset_gap_by_hand(tmp_path):
    store = ResultStore(tmp_path / "results.db")
    _bcc_na(tmp_path, store)
    _task(
        tmp_path,
        store,
        "bilayer_graphene-AA",
        "k2",
        ["C"] * 4,
        -36.0,
        -36.4,
        {
            "role": "reference",
            "host": "bilayer_graphene",
            "stacking": "AA",
            "n_carbon": 4,
            "metal": "",
        },
    )
    model = {
        "role": "model",
        "metal": "Na",
        "stacking": "AA",
        "n_metal": 2,
        "n_carbon": 8,
    }
    _task(
        tmp_path, store, "Na-1L-AA", "k3", ["C"] * 8 + ["Na"] * 2, -74.5, -75.0, model
    )
    _task(
        tmp_path,
        store,
        "Na-2L-AA",
        "k4",
        ["C"] * 8 + ["Na"] * 2,
        -74.5,
        -75.4,
        model,
        moved=True,
    )  # the stored geometry is not the last step: skipped
    # a second run of one label (another start, another task key) is its own row
    _task(
        tmp_path, store, "Na-1L-AA", "k5", ["C"] * 8 + ["Na"] * 2, -74.4, -75.0, model
    )
    rows = preset_gap(tmp_path)
    assert [r["label"] for r in rows] == ["Na-1L-AA"] * 2
    assert sorted(r["delta_meV"] for r in rows) == pytest.approx([-250.0, -200.0])
    r = min(rows, key=lambda r: r["delta_meV"])
    # final: (-75.0 - 8 x (-9.1) - 2 x (-1.3)) / 2 = +0.2 eV per Na
    # relax: (-74.5 - 8 x (-9.0) - 2 x (-1.2)) / 2 = -0.05 eV per Na
    assert r["formation_energy_final_eV"] == pytest.approx(0.2)
    assert r["formation_energy_relax_eV"] == pytest.approx(-0.05)
    assert r["delta_meV"] == pytest.approx(-250.0)
    assert r["force_mae_eV_A"] == pytest.approx(0.01)
    assert r["fmax_final_eV_A"] == pytest.approx(0.01 * np.sqrt(3))
    write_preset_gap(rows, tmp_path / "gap.md", "test")
    text = (tmp_path / "gap.md").read_text()
    assert "| Na-1L-AA | +0.200 | -0.050 | -250.0 |" in text
    assert "largest -250.0" in text and "mean absolute 225.0" in text


def test_preset_gap_command(tmp_path, capsys):
    from alkali_layers.cli import main

    out = tmp_path / "gap.md"
    assert main(["preset-gap", str(tmp_path), "--out", str(out)]) == 2
    assert "no results.db" in capsys.readouterr().err
    store = ResultStore(tmp_path / "results.db")
    _bcc_na(tmp_path, store)
    assert main(["preset-gap", str(tmp_path), "--out", str(out)]) == 2
    assert "no finished GPAW model" in capsys.readouterr().err
    assert not out.exists()
