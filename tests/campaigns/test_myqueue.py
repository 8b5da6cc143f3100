"""The myqueue backend against a real myqueue with its local scheduler on loopback."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alkali_layers.cli import main

from .conftest import write_spec

pytestmark = pytest.mark.slow  # myqueue submission and collection (subprocesses)

PORT = 39999  # myqueue's local scheduler port (fixed in myqueue)


def port_free(port: int) -> bool:
    """Bind test (a probing connection would crash myqueue's server)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def kill_processes_in(folder: Path) -> list[int]:
    """SIGKILL every process whose working directory lies in ``folder`` (Linux
    /proc): what ``mq submit`` leaves running in the campaign folder outlives the
    scheduler otherwise.  Returns the pids killed."""
    killed = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            pid = int(proc.name)
            if pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except OSError:
                    pass
    return killed


@pytest.fixture(scope="module")
def myqueue_home(tmp_path_factory):
    """A myqueue home with its local scheduler (2 cores) running for this module.

    One server for all tests: myqueue's client only knows port 39999, and a second
    server started within a minute of the first finds it in TIME_WAIT.  Tasks here
    ask for both cores, so they run one at a time.
    """
    from alkali_layers.campaigns.backends import mpi_environment

    pytest.importorskip("myqueue")
    deadline = time.time() + 90
    while not port_free(PORT) and time.time() < deadline:
        time.sleep(1)
    if not port_free(PORT):
        pytest.fail(f"port {PORT} is taken; myqueue's local scheduler needs it")
    home = tmp_path_factory.mktemp("mq") / "home"
    (home / ".myqueue").mkdir(parents=True)
    (home / ".myqueue" / "config.py").write_text(
        f"config = {{'scheduler': 'local', 'serial_python': {sys.executable!r}, "
        f"'parallel_python': {sys.executable!r}}}\n"
    )
    log = home / "server.log"
    code = (
        "from myqueue.config import Configuration;"
        "from myqueue.schedulers.local import Server;"
        "Server(Configuration.read(), cores=2).run()"
    )
    with log.open("w") as fh:
        server = subprocess.Popen(
            [sys.executable, "-u", "-c", code],
            cwd=home,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=mpi_environment(),  # GPAW tasks under mpiexec (as root too)
        )
    try:
        deadline = time.time() + 30
        while "Listening" not in log.read_text() and time.time() < deadline:
            time.sleep(0.2)
        assert f"127.0.0.1:{PORT}" in log.read_text(), log.read_text()
        yield home
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        kill_processes_in(home)


def submit(spec: Path) -> None:
    """`alkali-layers run SPEC --backend myqueue` (2 cores, 10 min), mq on PATH."""
    env_path = os.environ["PATH"]
    os.environ["PATH"] = f"{Path(sys.executable).parent}:{env_path}"
    try:
        args = ["run", str(spec), "--backend", "myqueue", "--cores", "2"]
        assert main([*args, "--time", "10m"]) == 0
    finally:
        os.environ["PATH"] = env_path


def wait_for(spec: Path, capsys, states: tuple[str, ...], timeout_s: float = 300):
    """Poll ``alkali-layers status`` until one of ``states`` appears; its output."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        main(["status", str(spec)])
        status = capsys.readouterr().out
        if any(state in status for state in states):
            break
        time.sleep(2)
    return status


def test_myqueue_backend_runs_tasks_and_collect_imports_them(myqueue_home, capsys):
    spec = write_spec(Path(myqueue_home) / "campaign")
    submit(spec)
    out = capsys.readouterr().out
    assert "submitted 4 tasks to myqueue (2:1:10m)" in out
    main(["status", str(spec)])
    assert "queued" in capsys.readouterr().out
    # a second run does not submit the queued tasks again
    assert main(["run", str(spec), "--backend", "myqueue"]) == 0
    assert "nothing to submit" in capsys.readouterr().out
    status = wait_for(spec, capsys, ("4 done",))
    assert "4 done" in status, status
    assert "finished but not collected" in status
    assert main(["collect", str(spec)]) == 0
    assert "imported 4 results" in capsys.readouterr().out
    assert main(["table", str(spec)]) == 0
    assert "2 models" in capsys.readouterr().out
    # myqueue ran each task in its folder: its output files are there
    outs = list((spec.parent / "tasks").glob("*/alkali_layers.task.*.out"))
    assert len(outs) == 4


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="no mpiexec")
def test_myqueue_runs_gpaw_tasks_under_mpi(myqueue_home, capsys):
    from .test_gpaw_campaign import GPAW_SPEC

    spec = write_spec(Path(myqueue_home) / "gpaw", text=GPAW_SPEC)
    submit(spec)
    assert "submitted 1 tasks to myqueue (2:10m)" in capsys.readouterr().out
    status = wait_for(spec, capsys, ("1 done", "1 failed"))
    assert "1 done" in status, status
    (result,) = (spec.parent / "tasks").glob("*/result.json")
    assert json.loads(result.read_text())["provenance"]["mpi_ranks"] == 2
    assert main(["collect", str(spec)]) == 0
