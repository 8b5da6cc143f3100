import json
import subprocess
import sys

import pytest
from ase.io import read

from alkali_layers.cli import main


def test_build_writes_any_ase_format(tmp_path, capsys):
    out = tmp_path / "na3.extxyz"
    assert (
        main(
            [
                "build",
                "bilayer-graphene",
                "--metal",
                "Na",
                "--layers",
                "3",
                "--stacking",
                "AB",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    atoms = read(out)
    assert atoms.get_chemical_formula() == "C28Na9"
    assert atoms.info["stacking"] == "AB"
    assert "wrote" in capsys.readouterr().out
    assert (
        main(
            [
                "build",
                "graphite-intercalation",
                "--metal",
                "K",
                "-o",
                str(tmp_path / "kc8.cif"),
            ]
        )
        == 0
    )
    assert read(tmp_path / "kc8.cif").get_chemical_formula() == "C8K"


@pytest.mark.slow  # one subprocess per case
@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["build", "bilayer-graphene", "--metal", "Xx", "--layers", "2"],
            "unknown metal 'Xx'",
        ),
        (
            ["build", "bilayer-graphene", "--metal", "Na", "--layers", "5"],
            "from 0 to 4",
        ),
        (
            [
                "build",
                "bilayer-graphene",
                "--metal",
                "Na",
                "--layers",
                "2",
                "--stacking",
                "BA",
            ],
            "allowed: AA, AB",
        ),
        (
            [
                "build",
                "bilayer-graphene",
                "--metal",
                "Na",
                "--layers",
                "2",
                "--packing",
                "sc",
            ],
            "allowed: fcc, hcp, bcc",
        ),
        (
            [
                "build",
                "bilayer-graphene",
                "--metal",
                "Na",
                "--layers",
                "2",
                "--max-strain",
                "0.0001",
            ],
            "raise max_strain",
        ),
        (["build", "nanotube", "--metal", "Na"], "unknown model"),
        (["table", "pores"], "no campaign spec here"),
    ],
)
def test_bad_input_prints_one_line_and_exits_nonzero(tmp_path, argv, message):
    if "-o" not in argv and argv[0] == "build":
        argv = argv + ["-o", str(tmp_path / "x.extxyz")]
    proc = subprocess.run(
        [sys.executable, "-m", "alkali_layers.cli", *argv],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "extra, n_relax, rank_steps",
    [([], None, None), (["--relax", "1", "--rank-steps", "0"], 1, 0)],
)
def test_fill_passes_its_search_settings_on(
    monkeypatch, tmp_path, extra, n_relax, rank_steps
):
    """`fill` without --relax/--rank-steps uses FillingSettings' defaults (one source
    of truth); given, they reach the search."""
    import alkali_layers.engines as engines
    import alkali_layers.workflows.filling as filling

    seen = {}

    class Stop(Exception):
        pass

    def fake_filling(pore, metal, calc, settings, **kwargs):
        seen["settings"] = settings
        raise Stop

    monkeypatch.setattr(engines, "make_calculator", lambda *a, **k: None)
    monkeypatch.setattr(filling, "sequential_filling", fake_filling)
    args = ["fill", "closed-pore", "--metal", "Na", "--n-max", "2"]
    with pytest.raises(Stop):
        main(args + extra + ["-o", str(tmp_path / "na.json")])
    settings = seen["settings"]
    default = filling.FillingSettings()
    assert settings.n_relax == (default.n_relax if n_relax is None else n_relax)
    assert settings.rank_steps == (
        default.rank_steps if rank_steps is None else rank_steps
    )
    if not extra:  # every other search setting is the library's default too
        assert settings == filling.FillingSettings(n_max=2, seed=settings.seed)
        assert settings.relax == filling.DEFAULT_FILL_RELAX  # step cap included


def test_fill_checkpoints_resumes_and_keeps_finished_results(monkeypatch, tmp_path):
    """`fill` writes <stem>.partial.json after every step, resumes from it when it
    exists, removes it when done and refuses to overwrite a finished result."""
    import alkali_layers.engines as engines
    import alkali_layers.workflows.filling as filling

    from .workflows.test_filling import ToyMetalCalculator

    seen = []
    real = filling.sequential_filling

    def recording(pore, metal, calc, settings, **kwargs):
        seen.append(kwargs.get("resume"))
        return real(pore, metal, calc, settings, mu_metal_eV=-0.8, **kwargs)

    monkeypatch.setattr(
        engines, "make_calculator", lambda *a, **k: ToyMetalCalculator()
    )
    monkeypatch.setattr(filling, "sequential_filling", recording)
    out = tmp_path / "na.json"
    args = ["fill", "closed-pore", "--width", "0.8", "--size", "2,2", "--metal", "Na"]
    args += ["--n-max", "1", "--rank-steps", "0", "--relax", "1", "-o", str(out)]
    assert main(args) == 0
    assert seen == [None] and out.exists()
    assert not (tmp_path / "na.partial.json").exists()  # folded into the result
    # a finished result is never overwritten
    assert main(args) == 2
    # an interrupted run left its checkpoint: the rerun resumes from it
    out.rename(tmp_path / "na.partial.json")
    out.with_suffix(".traj").rename(tmp_path / "na.partial.traj")
    assert main(args) == 0
    assert seen[-1] == tmp_path / "na.partial.json"
    assert json.loads(out.read_text())["steps"][-1]["n_metal"] == 1
