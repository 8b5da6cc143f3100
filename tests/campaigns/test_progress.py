"""Progress of a running task in ``alkali-layers status`` (quick: no calculation)."""

import json
import os
import socket

from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.progress import task_progress

from .conftest import write_spec

#: the shape of a GPAW 26 text log: two SCF cycles done, the third at iteration 2
GPAW_LOG = """\
SCF iterations
|iter     |     time |      energy | eigst |  dens |
|iter:   1| 13:14:30 | -333.100000 | -1.50 |       |
|iter:  18| 13:20:00 | -333.004862 | -4.10 | -4.20 |
Converged in 18 steps

SCF iterations
|iter:   1| 13:21:00 | -333.400000 | -1.56 |       |
|iter:  11| 13:25:00 | -333.508276 | -4.20 | -4.30 |
Converged in 11 steps

SCF iterations
|iter     |     time |      energy | eigst |  dens |
|iter:   1| 13:31:20 | -333.780711 | -1.56 |       |
|iter:   2| 13:32:20 | -333.790000 | -2.10 | -1.20 |
"""

RELAX_LOG = """\
      Step     Time          Energy          fmax
BFGS:    0 13:25:17     -268.818824        0.203276
BFGS:    1 13:25:19     -268.822213        0.199964
BFGS:    2 13:25:20     -268.846765        0.241120
"""


def test_progress_names_scf_cycles_the_current_iteration_and_the_optimizer_step(
    tmp_path,
):
    (tmp_path / "task.json").write_text("{}")
    assert task_progress(tmp_path) == ""  # nothing has started to log
    (tmp_path / "gpaw-relax.txt").write_text(GPAW_LOG)
    (tmp_path / "relax.log").write_text(RELAX_LOG)
    newest = max(p.stat().st_mtime for p in tmp_path.iterdir())
    line = task_progress(tmp_path, now=newest + 12 * 60)
    assert line == (
        "gpaw-relax.txt: 2 SCF cycles done, iteration 2 of the next; "
        "relax.log: BFGS step 2, fmax 0.241 eV/A; last written 12 min ago"
    )
    # between two SCF cycles, and a second GPAW log (the final point) started later
    (tmp_path / "gpaw-relax.txt").write_text(GPAW_LOG.rsplit("\nSCF", 1)[0])
    final = tmp_path / "gpaw-final.txt"
    final.write_text("SCF iterations\n|iter:   1| 14:00:00 | -333.9 | -1.5 |  |\n")
    t = newest + 60
    os.utime(final, (t, t))
    assert task_progress(tmp_path, now=t) == (
        "gpaw-relax.txt: 2 SCF cycles done; "
        "gpaw-final.txt: 0 SCF cycles done, iteration 1 of the next; "
        "relax.log: BFGS step 2, fmax 0.241 eV/A; last written 0 min ago"
    )
    # a phonon task logs each displaced cell in a subfolder
    (tmp_path / "phonopy").mkdir()
    disp = tmp_path / "phonopy" / "gpaw-disp-0000.txt"
    disp.write_text(GPAW_LOG)
    os.utime(disp, (t + 120, t + 120))
    assert task_progress(tmp_path, now=t + 180).endswith(
        "phonopy/gpaw-disp-0000.txt: 2 SCF cycles done, iteration 2 of the next; "
        "relax.log: BFGS step 2, fmax 0.241 eV/A; last written 1 min ago"
    )
    # many displaced cells: one entry with their count and the newest log
    for i in (1, 2):
        later = tmp_path / "phonopy" / f"gpaw-disp-000{i}.txt"
        later.write_text(GPAW_LOG.rsplit("\nSCF", 2)[0] if i == 2 else GPAW_LOG)
        os.utime(later, (t + 120 + i, t + 120 + i))
    line = task_progress(tmp_path, now=t + 180)
    assert line.count("gpaw-disp") == 1
    assert (
        "phonopy/: 3 GPAW logs, newest phonopy/gpaw-disp-0002.txt: 1 SCF cycle done;"
    ) in line


def test_status_shows_the_progress_of_a_running_task(tmp_path):
    spec = write_spec(tmp_path / "progress", layers="[1]")
    campaign = Campaign(spec, stream=False)
    entry = next(e for e in campaign.entries() if e.task.role == "model")
    entry.folder.mkdir(parents=True)
    (entry.folder / "running.json").write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),  # alive: this test process
                "started": "2026-12-03T13:14:08+00:00",
            }
        )
    )
    (entry.folder / "gpaw-relax.txt").write_text(GPAW_LOG)
    report = campaign.status_report()
    assert (
        f"running  {entry.label}: since 2026-12-03T13:14:08+00:00; "
        "gpaw-relax.txt: 2 SCF cycles done, iteration 2 of the next; "
        "last written 0 min ago"
    ) in report
    assert not (spec.parent / "results.db").exists()
