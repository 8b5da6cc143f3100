"""The documentation site builds with warnings as errors (slow: ~10-20 s).

``mkdocs build --strict`` renders docs/ (science pages, the course via
mkdocs-jupyter, API pages from the numpy docstrings via mkdocstrings, the CLI
reference from the argparse parser, the committed results of runs/); a broken link,
a docstring mkdocstrings cannot parse or a missing page fails this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # builds the whole site
def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    # the generated parts are there: API, CLI reference, results with figures, course
    assert (
        site / "api" / "alkali_layers" / "analysis" / "capacity" / "index.html"
    ).exists()
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "alkali-layers" in cli and "fill" in cli
    assert (site / "results" / "bilayer_graphene" / "formation_energy.png").exists()
    course = (site / "course" / "06_pore_volume_plateau" / "index.html").read_text()
    assert "Exercises" in course
    science = (site / "science" / "capacity" / "index.html").read_text()
    assert "mAh/g" in science
