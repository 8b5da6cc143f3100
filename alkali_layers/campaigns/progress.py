"""Progress of a running task, read from the logs in its task folder.

``alkali-layers status`` shows it next to each running task, so a task that runs for
hours (a GPAW relaxation of a 40-atom bilayer: ~2 h on 2 ranks) says where it is
without opening its logs: the stage (the newest log), the SCF cycles finished and the
iteration of the current one in each GPAW text log (``gpaw-*.txt``; a subfolder
that holds many, like the ``phonopy/gpaw-disp-*.txt`` of a phonon task's displaced
cells, is one entry: how many logs it holds and its newest), the last step of
the optimizer log (``relax.log``: step, fmax in eV/A) and how long ago the folder was
last written to (a task that has written nothing for long may hang).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

#: an SCF iteration line of a GPAW text log: ``|iter:  12| 13:31:20 | -333.78 |``
#: (GPAW 26) or ``iter:  12 13:31:20 -333.78`` (older GPAW)
_SCF_ITERATION = re.compile(r"iter:\s*(\d+)")
#: a converged SCF cycle of a GPAW text log
_SCF_CONVERGED = re.compile(r"^Converged in \d+ steps", re.MULTILINE)
#: a step line of an ASE optimizer log: ``BFGS:   12 13:45:10  -333.81  0.1234``
_OPTIMIZER_STEP = re.compile(
    r"^(\w+):\s+(\d+)\s+\S+\s+(-?[\d.]+)\*?\s+([\d.]+)\s*$", re.MULTILINE
)


def gpaw_log_progress(path: Path, name: str | None = None) -> str:
    """``"<name>: <n> SCF cycles done, iteration <i> of the next"`` for one GPAW
    text log (``"<name>: <n> SCF cycles done"`` when it is between cycles);
    ``name`` defaults to the file name."""
    text = path.read_text(errors="replace")
    cycles = list(_SCF_CONVERGED.finditer(text))
    done = len(cycles)
    iterations = _SCF_ITERATION.findall(text, cycles[-1].end() if cycles else 0)
    summary = f"{name or path.name}: {done} SCF cycle{'s' * (done != 1)} done"
    if iterations:
        summary += f", iteration {int(iterations[-1])} of the next"
    return summary


def optimizer_log_progress(path: Path) -> str | None:
    """``"relax.log: BFGS step 12, fmax 0.123 eV/A"`` from the last step line of an
    ASE optimizer log, or None when it holds no step yet."""
    steps = _OPTIMIZER_STEP.findall(path.read_text(errors="replace"))
    if not steps:
        return None
    name, step, _energy, fmax = steps[-1]
    return f"{path.name}: {name} step {step}, fmax {float(fmax):.3f} eV/A"


def task_progress(folder: Path, now: float | None = None) -> str:
    """One line on where a running task is, from the logs in its folder.

    Parameters
    ----------
    folder : Path
        The task folder (``tasks/<label>.<key>``).
    now : float, optional
        The current time (seconds since the epoch; default ``time.time()``).

    Returns
    -------
    str
        The GPAW logs of the folder itself (oldest first, the last one the current
        stage), one entry per subfolder with GPAW logs (their count and the
        newest) and the optimizer log, ``"; "``-separated, then
        ``"last written <m> min ago"``; an empty string for a folder with no log yet.
    """
    folder = Path(folder)
    now = time.time() if now is None else now
    modified = {p: p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}
    logs = sorted((p for p in modified if p.match("gpaw-*.txt")), key=modified.get)
    parts = [gpaw_log_progress(p) for p in logs if p.parent == folder]
    for sub in sorted({p.parent for p in logs} - {folder}):
        in_sub = [p for p in logs if p.parent == sub]
        newest_log = gpaw_log_progress(in_sub[-1], str(in_sub[-1].relative_to(folder)))
        if len(in_sub) > 1:
            where = sub.relative_to(folder)
            newest_log = f"{where}/: {len(in_sub)} GPAW logs, newest {newest_log}"
        parts.append(newest_log)
    optimizer = folder / "relax.log"
    if optimizer.exists():
        line = optimizer_log_progress(optimizer)
        if line is not None:
            parts.append(line)
    if not parts:  # every part comes from a file, so ``modified`` is not empty
        return ""
    newest = max(modified.values())
    parts.append(f"last written {max(0.0, now - newest) / 60:.0f} min ago")
    return "; ".join(parts)
