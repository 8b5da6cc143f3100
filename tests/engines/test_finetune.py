"""Fine-tuning data and identity (quick: EMT labels, no network) and one tiny
end-to-end fine-tune with SevenNet's trainer (slow)."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from alkali_layers.calculators.relax import RelaxSettings, relax
from alkali_layers.campaigns.store import ResultStore
from alkali_layers.campaigns.tasks import RelaxTask, write_task_file
from alkali_layers.engines import PRESETS, DFTProtocol, MLIPSettings
from alkali_layers.engines.finetune import (
    FinetuneSettings,
    collect_frames,
    dft_frame,
    errors,
    finetune,
    fit_energy_offsets,
    has_energy,
    protocol_key,
    sha256_file,
    split_by_model,
    training_data_hash,
    weights_sha256,
    without_dispersion,
)


def emt_frame(atoms, model, protocol="p", dispersion="none"):
    atoms = atoms.copy()
    atoms.calc = EMT()
    return dft_frame(
        atoms,
        atoms.get_potential_energy(),
        atoms.get_forces(),
        model,
        protocol,
        dispersion,
        "test",
    )


def rattled(seed, element="Cu"):
    atoms = bulk(element, "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_default_engine_hash_unchanged_and_finetuned_identity_enters_it(tmp_path):
    # the stored results of every campaign carry this hash (see runs/*/results.db)
    assert MLIPSettings().settings_hash() == "e4874e99544c8707"
    meta = tmp_path / "finetune.json"
    meta.write_text(
        '{"base_model": "7net-0", "checkpoint_sha256": "abc", '
        '"training_data_hash": "def"}'
    )
    tuned = MLIPSettings(finetuned=str(meta))
    assert (tuned.checkpoint_sha256, tuned.training_data_hash) == ("abc", "def")
    assert tuned.settings_hash() != MLIPSettings().settings_hash()
    # the path is where the files are, not their identity
    moved = MLIPSettings(
        finetuned="elsewhere/finetune.json",
        checkpoint_sha256="abc",
        training_data_hash="def",
    )
    assert moved.settings_hash() == tuned.settings_hash()
    other_data = MLIPSettings(
        finetuned=str(meta), checkpoint_sha256="abc", training_data_hash="xyz"
    )
    assert other_data.settings_hash() != tuned.settings_hash()


def test_gpaw_campaign_pre_relaxes_with_a_finetuned_checkpoint(tmp_path):
    """``prerelax_finetuned`` in a GPAW spec's [engine]: the staged relaxation's ML
    stage is the fine-tuned engine (its base model and dispersion from the
    metadata, the path relative to the spec), and its identity enters the key."""
    from alkali_layers.campaigns.spec import SpecError, load_spec

    (tmp_path / "ft").mkdir()
    (tmp_path / "ft" / "finetune.json").write_text(
        json.dumps(
            {
                "base_model": "7net-0",
                "dispersion": "none",
                "checkpoint_sha256": "abc",
                "training_data_hash": "def",
            }
        )
    )
    models = (
        '[[models]]\nbuilder = "bulk_metal"\ntasks = ["relax"]\n'
        '[models.grid]\nmetal = ["Li"]\n'
    )
    spec = tmp_path / "campaign.toml"
    spec.write_text(
        'name = "t"\n[engine]\nname = "gpaw"\n'
        'prerelax_finetuned = "ft/finetune.json"\n' + models
    )
    pre = load_spec(spec).engine.prerelax
    assert pre.finetuned == str((tmp_path / "ft" / "finetune.json").resolve())
    assert (pre.model, pre.dispersion, pre.checkpoint_sha256) == (
        "7net-0",
        "none",
        "abc",
    )
    plain = tmp_path / "plain.toml"
    plain.write_text('name = "t"\n[engine]\nname = "gpaw"\n' + models)
    assert (
        load_spec(plain).engine.settings_hash()
        != load_spec(spec).engine.settings_hash()
    )
    assert load_spec(plain).engine.prerelax == MLIPSettings()
    spec.write_text(
        'name = "t"\n[engine]\nname = "gpaw"\nprerelax = "none"\n'
        'prerelax_finetuned = "ft/finetune.json"\n' + models
    )
    with pytest.raises(SpecError, match="prerelax_finetuned needs prerelax"):
        load_spec(spec)
    spec.write_text(
        'name = "t"\n[engine]\nname = "gpaw"\n'
        'prerelax_finetuned = "nowhere/finetune.json"\n' + models
    )
    with pytest.raises(SpecError, match="no metadata file"):
        load_spec(spec)


def test_checkpoint_identity_is_the_weights_not_the_file(tmp_path):
    """Two trainings that give the same weights write different .pth files (time,
    run id, training-file paths: measured on two runs of runs/finetune's command);
    the identity that enters the engine hash must be the same for both."""
    import torch

    weights = {"a.weight": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2)}
    for name, when in (("one.pth", "17:38"), ("two.pth", "18:50")):
        torch.save({"model_state_dict": weights, "time": when}, tmp_path / name)
    one, two = tmp_path / "one.pth", tmp_path / "two.pth"
    assert sha256_file(one) != sha256_file(two)
    assert weights_sha256(one) == weights_sha256(two)
    changed = {**weights, "b": torch.tensor([1.0, 1.0 + 1e-7])}
    torch.save({"model_state_dict": changed, "time": "17:38"}, tmp_path / "3.pth")
    assert weights_sha256(tmp_path / "3.pth") != weights_sha256(one)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"checkpoint_sha256": "abc"}, "set finetuned"),
        ({"finetuned": "missing/finetune.json"}, "no metadata file"),
    ],
)
def test_finetuned_settings_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLIPSettings(**kwargs)


def test_finetune_settings_refuse_multifidelity_base():
    with pytest.raises(ValueError, match="single-fidelity"):
        FinetuneSettings(base_model="7net-MF-0")


def test_split_holds_out_whole_models():
    frames = [emt_frame(rattled(i), f"m{i % 5}") for i in range(15)]
    train, valid = split_by_model(frames)
    train_models = {f.info["model"] for f in train}
    valid_models = {f.info["model"] for f in valid}
    assert not train_models & valid_models
    assert len(valid_models) == 1 and len(train) + len(valid) == 15
    assert len(valid) == 3  # every frame of the held-out model
    # deterministic, independent of the frame order
    again = split_by_model(frames[::-1])[1]
    assert {f.info["model"] for f in again} == valid_models
    train, valid = split_by_model(frames, hold_out=["m1", "m[34]"])
    assert {f.info["model"] for f in valid} == {"m1", "m3", "m4"}
    assert not {f.info["model"] for f in train} & {"m1", "m3", "m4"}


@pytest.mark.parametrize(
    "hold_out, message",
    [(["Cs*"], "matches no model"), (["m*"], "nothing left to train")],
)
def test_split_bad_input(hold_out, message):
    frames = [emt_frame(rattled(i), f"m{i}") for i in range(3)]
    with pytest.raises(ValueError, match=message):
        split_by_model(frames, hold_out)


def test_training_data_hash_follows_the_labels():
    frames = [emt_frame(rattled(i), "m") for i in range(2)]
    h = training_data_hash(frames)
    assert h == training_data_hash([emt_frame(rattled(i), "m") for i in range(2)])
    changed = [frames[0], emt_frame(rattled(1), "other-model")]
    assert training_data_hash(changed) != h


def test_energy_offsets_recovered_from_compositions():
    # E = P + 2.0 eV * n_Cu - 0.5 eV * n_Al exactly: the fit returns the offsets
    frames, predicted = [], []
    for n_cu, n_al in [(4, 0), (3, 1), (2, 2), (1, 3)]:
        atoms = Atoms(
            ["Cu"] * n_cu + ["Al"] * n_al,
            positions=np.arange(12.0).reshape(4, 3),
            cell=[10, 10, 10],
            pbc=True,
        )
        p = -3.0 * (n_cu + n_al) + 0.1 * n_al
        frames.append(
            dft_frame(
                atoms,
                p + 2.0 * n_cu - 0.5 * n_al,
                np.zeros((4, 3)),
                "m",
                "p",
                "none",
                "test",
            )
        )
        predicted.append(p)
    offsets = fit_energy_offsets(frames, np.array(predicted))
    assert offsets == pytest.approx({"Al": -0.5, "Cu": 2.0}, abs=1e-9)


def test_dispersion_is_removed_from_labels():
    from dftd3.ase import DFTD3

    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    atoms.rattle(0.05, seed=1)
    frame = dft_frame(atoms, -4.0, np.zeros((2, 3)), "m", "p", "d3bj", "test")
    d3 = atoms.copy()
    d3.calc = DFTD3(method="PBE", damping="d3bj")
    (label,) = without_dispersion([frame])
    assert label.get_potential_energy() == pytest.approx(
        -4.0 - d3.get_potential_energy(), abs=1e-10
    )
    assert np.allclose(label.get_forces(), -d3.get_forces(), atol=1e-10)
    assert label.info["dispersion_removed"] == "d3bj"


def tiny_gpaw_campaign(root):
    """A campaign directory as a GPAW campaign leaves it: a task folder with the
    relaxation trajectory (EMT stands in for GPAW) and a database row of the final
    single point with its forces."""
    protocol = DFTProtocol()
    atoms = rattled(3)
    task = RelaxTask("Cu-model", "model", atoms)
    folder = root / "tasks" / "Cu-model.k1"
    write_task_file(folder, task, "k1", protocol, RelaxSettings())
    calc_atoms = atoms.copy()
    result = relax(
        calc_atoms,
        EMT(),
        RelaxSettings(fmax_eV_A=0.05, max_steps=5, gallery_prescan=False),
        cell_mode="fixed",
        trajectory=str(folder / "gpaw-relax.traj"),
    )
    final = result.atoms.copy()
    final.calc = EMT()
    energy, forces = final.get_potential_energy(), final.get_forces()
    store = ResultStore(root / "results.db")
    store.record(
        "k1",
        final,
        {"label": "Cu-model", "engine": "gpaw", "role": "model"},
        {
            "engine_settings": protocol.to_dict(),
            "outcome": {"dft_forces_eV_A": forces.tolist()},
        },
    )
    # a row stored before forces were kept: skipped, unless it is one atom per
    # cell (a bcc reference), whose force vanishes by translation invariance
    data = {"engine_settings": protocol.to_dict()}
    store.record("k0", final, {"label": "old", "engine": "gpaw"}, data)
    metal = bulk("Na", "bcc", a=4.2)
    metal.calc = SinglePointCalculator(metal, energy=-1.3)
    store.record("k2", metal, {"label": "bulk-Na", "engine": "gpaw"}, data)
    return protocol, energy, forces


def test_collect_frames_from_campaign_directory(tmp_path):
    protocol, energy, forces = tiny_gpaw_campaign(tmp_path)
    relax_key, final_key = protocol_key(protocol.relax), protocol_key(protocol.final)
    assert relax_key != final_key  # 400 vs 600 eV: absolute energies differ
    with pytest.raises(ValueError, match="more than one DFT protocol"):
        collect_frames([tmp_path])
    steps = collect_frames([tmp_path], protocol=relax_key)
    assert len(steps) >= 2  # every optimizer step of the relaxation
    assert all(f.info["model"] == "Cu-model" for f in steps)
    assert all(f.info["dispersion"] == PRESETS["fast"].dispersion for f in steps)
    first = steps[0].copy()
    first.calc = EMT()
    assert steps[0].get_potential_energy() == pytest.approx(
        first.get_potential_energy()
    )
    point, metal = collect_frames([tmp_path], protocol=final_key)
    assert point.get_potential_energy() == pytest.approx(energy)
    assert np.allclose(point.get_forces(), forces)
    assert metal.info["model"] == "bulk-Na" and metal.get_potential_energy() == -1.3
    assert np.array_equal(metal.get_forces(), np.zeros((1, 3)))


def test_relaxation_steps_found_through_the_database_in_a_fresh_clone(tmp_path):
    """A clone holds results.db and each task's gpaw-relax.traj, not task.json
    (.gitignore): the steps are found through the finished row, read once."""
    protocol, _, _ = tiny_gpaw_campaign(tmp_path)
    relax_key = protocol_key(protocol.relax)
    local = collect_frames([tmp_path], protocol=relax_key)
    (tmp_path / "tasks" / "Cu-model.k1" / "task.json").unlink()
    clone = collect_frames([tmp_path], protocol=relax_key)
    assert len(clone) == len(local) >= 2
    assert [f.info["source"] for f in clone] == [f.info["source"] for f in local]
    assert all(f.info["model"] == "Cu-model" for f in clone)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "runs/x/tasks/a.k/gpaw-relax.traj"],
        cwd=Path(__file__).resolve().parents[2],
    )
    assert ignored.returncode == 1  # committed with the campaign, not ignored


def test_relaxation_steps_of_a_rekeyed_row_stay_found(tmp_path):
    """A row moved to a new key keeps its folder under the old one: its steps must
    still be training frames (they were silently dropped before this was read)."""
    protocol, _, _ = tiny_gpaw_campaign(tmp_path)
    relax_key = protocol_key(protocol.relax)
    before = collect_frames([tmp_path], protocol=relax_key)
    (tmp_path / "tasks" / "Cu-model.k1" / "task.json").unlink()  # a fresh clone
    ResultStore(tmp_path / "results.db").rekey("k1", "k1new")
    after = collect_frames([tmp_path], protocol=relax_key)
    assert len(after) == len(before) >= 2


def test_collect_frames_from_a_users_file(tmp_path):
    from ase.io import write

    frames = [emt_frame(rattled(i), f"m{i}") for i in range(2)]
    write(tmp_path / "mine.extxyz", frames)
    got = collect_frames([tmp_path / "mine.extxyz"])
    assert [f.info["model"] for f in got] == ["m0", "m1"]
    assert got[0].info["protocol"] == "p"
    no_forces = Atoms("Cu", cell=[3, 3, 3], pbc=True)
    write(tmp_path / "bad.extxyz", no_forces)
    with pytest.raises(ValueError, match="needs an energy and forces"):
        collect_frames([tmp_path / "bad.extxyz"])
    with pytest.raises(FileNotFoundError):
        collect_frames([tmp_path / "nothing"])


def test_forces_from_another_protocol_join_without_energies(tmp_path):
    """A cheaper preset's frames train forces only: energy NaN, skipped by the
    offset fit, the energy errors and the data hash, forces kept."""
    from ase.io import read, write

    final = [emt_frame(rattled(i), f"m{i}", protocol="final") for i in range(3)]
    steps = [emt_frame(rattled(10 + i), f"m{i}", protocol="fast") for i in range(2)]
    write(tmp_path / "mine.extxyz", final + steps)
    with pytest.raises(ValueError, match="more than one DFT protocol"):
        collect_frames([tmp_path / "mine.extxyz"])
    got = collect_frames([tmp_path / "mine.extxyz"], "final", forces_from=["fast"])
    assert [f.info["protocol"] for f in got] == ["final"] * 3 + ["fast"] * 2
    assert [has_energy(f) for f in got] == [True] * 3 + [False] * 2
    assert np.allclose(got[3].get_forces(), steps[0].get_forces())
    with pytest.raises(ValueError, match="no frames of protocol 'slow'"):
        collect_frames([tmp_path / "mine.extxyz"], "final", forces_from=["slow"])
    with pytest.raises(ValueError, match="cannot also be a forces-only"):
        collect_frames([tmp_path / "mine.extxyz"], "final", forces_from=["final"])

    # the offset fit sees only the labelled frames (a NaN would poison lstsq)
    predicted = np.array([f.calc.results["energy"] - 0.25 * len(f) for f in got])
    offsets = fit_energy_offsets(got, predicted)
    assert offsets == pytest.approx({"Cu": 0.25}, abs=1e-6)
    # errors: energies over the 3 labelled frames, forces over all 5
    err = errors(EMT(), got)
    assert err["n_frames"] == 5 and err["n_energy_frames"] == 3
    assert err["energy_mae_meV_per_atom"] == pytest.approx(0.0, abs=1e-4)
    assert errors(EMT(), got[3:])["n_energy_frames"] == 0
    assert "energy_mae_meV_per_atom" not in errors(EMT(), got[3:])
    # the hash records the missing label (and differs from the labelled frame's)
    assert training_data_hash(got[3:]) != training_data_hash(steps)
    # the labels as trained (train.extxyz) keep the missing energy as NaN
    write(tmp_path / "train.extxyz", got, format="extxyz")
    back = read(tmp_path / "train.extxyz", index=":")
    assert np.isnan(back[4].get_potential_energy())


def net_labelled_bcc(cells):
    """Rattled bcc cells (element, a) labelled by 7net-0 without dispersion: a
    cheap, exact source, on which the pretrained model has zero error."""
    from alkali_layers.engines import make_calculator

    net = make_calculator("mlip", dispersion="none")
    frames = []
    for i, (el, a) in enumerate(cells):
        atoms = bulk(el, "bcc", a=a, cubic=True)
        atoms.rattle(0.05, seed=i)
        atoms.calc = net
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
        frames.append(atoms)
    return frames


@pytest.mark.slow
def test_tiny_finetune_end_to_end(tmp_path):
    """One epoch of SevenNet's trainer on four rattled bcc cells whose labels come
    from 7net-0 itself (no DFT: a cheap, exact source), so the pretrained model has
    zero error on them and the energy offsets vanish; the fine-tuned checkpoint
    loads through make_calculator under its own settings hash."""
    from ase.io import write

    from alkali_layers.engines import make_calculator

    frames = net_labelled_bcc([("Li", 3.44), ("Na", 4.23), ("Li", 3.5), ("Na", 4.3)])
    for i, atoms in enumerate(frames):
        atoms.info["model"] = f"{atoms[0].symbol}-{i}"
    write(tmp_path / "frames.extxyz", frames)
    out = tmp_path / "ft"
    settings = FinetuneSettings(epochs=1, batch_size=2)
    meta = finetune(
        [tmp_path / "frames.extxyz"],
        out,
        settings,
        hold_out=["Na-3"],
        threads=1,
        test=["Li-2"],
    )
    assert meta["held_out_models"] == ["Na-3"] and meta["test_models"] == ["Li-2"]
    assert meta["train_models"] == ["Li-0", "Na-1"]
    assert meta["n_frames"] == {"train": 2, "validation": 1, "test": 1}
    assert meta["errors"]["finetuned"]["test"]["n_frames"] == 1
    assert meta["cpu_s"] > 0 and meta["epochs"] == 1
    assert all(abs(mu) < 1e-3 for mu in meta["energy_offsets_eV"].values())
    before = meta["errors"]["pretrained"]["train"]
    assert before["energy_mae_meV_per_atom"] < 0.1 and before["force_mae_eV_A"] < 1e-4
    assert meta["checkpoint_sha256"] == weights_sha256(out / "checkpoint.pth")
    assert meta["checkpoint_identity"] == "weights"

    tuned = MLIPSettings(dispersion="none", finetuned=str(out / "finetune.json"))
    assert tuned.training_data_hash == meta["training_data_hash"]
    assert tuned.settings_hash() != MLIPSettings(dispersion="none").settings_hash()
    calc = make_calculator("mlip", tuned)
    probe = frames[3].copy()
    probe.calc = calc
    assert np.isfinite(probe.get_potential_energy())
    assert calc.alkali_settings.checkpoint_sha256 == meta["checkpoint_sha256"]
    with pytest.raises(ValueError, match="learned DFT without none"):
        make_calculator(
            "mlip", tuned.__class__(**{**vars(tuned), "dispersion": "d3bj"})
        )

    # a finished fine-tune is returned as is, never overwritten by another one
    again = finetune(
        [tmp_path / "frames.extxyz"], out, settings, ["Na-3"], test=["Li-2"]
    )
    assert again == meta
    with pytest.raises(FileExistsError, match="never overwritten"):
        finetune([tmp_path / "frames.extxyz"], out, settings, ["Na-3"])


@pytest.mark.slow
def test_finetune_with_forces_only_frames(tmp_path):
    """SevenNet trains on frames without an energy label (the relaxation steps of
    another preset): one epoch runs, their count is in the metadata, and the CLI
    passes --forces-from through."""
    from ase.io import write

    from alkali_layers.cli import main

    frames = net_labelled_bcc([("Li", 3.44), ("Na", 4.23), ("Li", 3.5)] * 2)
    for i, atoms in enumerate(frames):
        protocol = "final" if i < 3 else "fast"
        atoms.info.update(model=f"{atoms[0].symbol}-{i % 3}", protocol=protocol)
    write(tmp_path / "frames.extxyz", frames)
    out = tmp_path / "ft"
    args = ["finetune", str(tmp_path / "frames.extxyz"), "-o", str(out)]
    args += ["--protocol", "final", "--forces-from", "fast", "--hold-out", "Na-1"]
    assert main([*args, "--epochs", "1", "--batch-size", "2", "--threads", "1"]) == 0
    meta = json.loads((out / "finetune.json").read_text())
    assert meta["forces_from"] == ["fast"] and meta["protocol"] == "final"
    assert meta["n_frames"] == {"train": 4, "validation": 2, "test": 0}
    assert meta["n_energy_frames"] == {"train": 2, "validation": 1, "test": 0}
    tuned = meta["errors"]["finetuned"]["train"]
    assert tuned["n_energy_frames"] == 2 and np.isfinite(tuned["force_mae_eV_A"])
    # SevenNet read the weights: zero energy weight on the forces-only frames
    from sevenn.train.graph_dataset import SevenNetGraphDataset

    assert "use_weight          : True" in (out / "sevenn" / "log.sevenn").read_text()
    trained = SevenNetGraphDataset(
        cutoff=5.0,
        root=str(out / "sevenn"),
        processed_name="trainset.pt",
        use_data_weight=True,
    )
    weights = sorted(float(g["data_weight"]["energy"]) for g in trained)
    assert weights == [0.0, 0.0, 1.0, 1.0]


def test_finetune_command_says_what_is_missing(tmp_path, capsys):
    from alkali_layers.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["finetune", str(tmp_path / "empty"), "-o", str(tmp_path / "o")]) == 2
    assert "no DFT frames with energies and forces" in capsys.readouterr().err
    tiny_gpaw_campaign(tmp_path / "c")
    assert main(["finetune", str(tmp_path / "c"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--protocol" in err and "GPAW PW 400 eV" in err and "GPAW PW 600 eV" in err
    assert not (tmp_path / "o").exists()  # nothing written before the data is sound
