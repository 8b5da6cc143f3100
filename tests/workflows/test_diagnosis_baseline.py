"""The baseline settings of ``alkali-layers diagnose`` (quick: no calculation)."""

import json
from pathlib import Path

import pytest

from alkali_layers.workflows.diagnosis import baseline_settings

VALIDATION = Path(__file__).parents[2] / "runs" / "validation"


@pytest.mark.parametrize(
    "treatment, stored",
    [
        ("PBE+D3(BJ)", "diagnosis-LiC6.json"),
        ("vdW-optPBE", "diagnosis-LiC6-vdW-optPBE.json"),
    ],
)
def test_baseline_is_the_diagnosed_protocol_with_li_1s_frozen(treatment, stored):
    """The committed LiC6 diagnoses (baselines +0.029 and +0.010 eV/Li, the relaxed
    validation values) were computed with GPAW's frozen-core Li setup; the code default
    became "li-sc" later, and a baseline taking it would make the "PAW setup" row a
    no-op and recompute every checkpoint under another key."""
    base = baseline_settings(treatment)
    assert base.setups == "paw"
    recorded = json.loads((VALIDATION / stored).read_text())["baseline_settings"]
    assert base.hash_fields() == recorded


def test_unknown_treatment_is_named_with_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: PBE"):
        baseline_settings("B3LYP")
