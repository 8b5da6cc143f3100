"""Write every campaign task's key and structure, as the checked-out code builds them.

Step 1 of the 2026-12-02 key migration (see ``rekey_supercell_ties.md``): run with
the code of commit e33707c and the numerics of the machines that computed the
committed results (numpy without AVX-512, OpenBLAS Haswell kernels), it reproduces
the structures behind the committed task keys; ``alkali-layers rekey SPEC
--old-structures FILE`` then proves each equivalent to today's and re-keys its row.

Usage (from the root of a checkout of the old commit)::

    NPY_DISABLE_CPU_FEATURES="AVX512F ..." OPENBLAS_CORETYPE=Haswell \\
        python dump_task_structures.py runs OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ase.io.jsonio import encode

from alkali_layers.cli import _campaigns


def main(runs: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for campaign in _campaigns(runs):
        tasks = {
            e.task.label: {"key": e.key, "atoms": encode(e.task.atoms)}
            for e in campaign.entries()
            if e.task.atoms is not None
        }
        path = out / f"{campaign.spec.name}.json"
        path.write_text(json.dumps(tasks))
        print(f"{campaign.spec.name}: {len(tasks)} tasks -> {path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
