"""Run one campaign task: ``python -m alkali_layers.task [FOLDER ...] [--force]``.

Each FOLDER (default: the current directory) is a task folder written by
``alkali-layers run``; its ``result.json`` is written atomically when the task ends.
This is the command cluster backends (myqueue) submit, one per task.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .mpi import init_mpi


def main(argv=None) -> int:
    warnings.filterwarnings("ignore")
    init_mpi()
    from .campaigns.worker import run_task_folder

    parser = argparse.ArgumentParser(
        prog="python -m alkali_layers.task", description=__doc__
    )
    parser.add_argument("folders", nargs="*", default=["."], help="task folders")
    parser.add_argument("--force", action="store_true", help="rerun a finished task")
    args = parser.parse_args(argv)
    status = 0
    for folder in args.folders:
        try:
            result = run_task_folder(Path(folder), force=args.force)
        except (FileNotFoundError, ValueError) as err:
            print(f"alkali_layers.task: error: {err}", file=sys.stderr)
            return 2
        print(
            f"{result['label']}: {result['status']}"
            + (f" ({result['reason']})" if result["status"] != "ok" else "")
        )
        status = status or (0 if result["status"] == "ok" else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
