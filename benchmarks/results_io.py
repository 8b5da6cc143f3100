"""What the side-by-side benchmark scripts share: the bilayer models they time and
how they write ``results/<name>.json`` and ``results/<name>.md``."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def aa_bilayers(models: list[tuple[str, int]]):
    """AA bilayer-graphene models (builder defaults) for (metal, layers) pairs; a
    model the builder refuses is left out."""
    from alkali_layers.builders import bilayer_graphene

    out = []
    for metal, n in models:
        try:
            out.append(bilayer_graphene(metal, n, "AA"))
        except ValueError:
            continue
    return out


def write_results(name: str, result: dict, text: str) -> None:
    """``result`` as ``results/<name>.json``, ``text`` as ``results/<name>.md``;
    the text is printed too."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
