"""The myqueue backend against a real myqueue with its local scheduler on loopback."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alkali_layers.cli import main

from .conftest import write_spec

PORT = 39999  # myqueue's local scheduler port (fixed in myqueue)


def port_free(port: int) -> bool:
    """Bind test (a probing connection would crash myqueue's server)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def myqueue_home(tmp_path):
    """A myqueue home with the local scheduler running (1 core), stopped afterwards."""
    pytest.importorskip("myqueue")
    if not port_free(PORT):
        pytest.fail(f"port {PORT} is taken; myqueue's local scheduler needs it")
    home = tmp_path / "home"
    (home / ".myqueue").mkdir(parents=True)
    (home / ".myqueue" / "config.py").write_text(
        f"config = {{'scheduler': 'local', 'serial_python': {sys.executable!r}, "
        f"'parallel_python': {sys.executable!r}}}\n"
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from myqueue.config import Configuration;"
            "from myqueue.schedulers.local import Server;"
            "Server(Configuration.read(), cores=1).run()",
        ],
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while port_free(PORT) and time.time() < deadline:
        time.sleep(0.2)
    assert not port_free(PORT), "myqueue local scheduler did not start"
    yield home
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def test_myqueue_backend_runs_tasks_and_collect_imports_them(myqueue_home, capsys):
    spec = write_spec(Path(myqueue_home) / "campaign")
    env_path = os.environ["PATH"]
    os.environ["PATH"] = f"{Path(sys.executable).parent}:{env_path}"
    try:
        assert (
            main(
                [
                    "run",
                    str(spec),
                    "--backend",
                    "myqueue",
                    "--cores",
                    "1",
                    "--time",
                    "10m",
                ]
            )
            == 0
        )
    finally:
        os.environ["PATH"] = env_path
    out = capsys.readouterr().out
    assert "submitted 4 tasks to myqueue (1:1:10m)" in out
    main(["status", str(spec)])
    assert "queued" in capsys.readouterr().out
    # a second run does not submit the queued tasks again
    assert main(["run", str(spec), "--backend", "myqueue"]) == 0
    assert "nothing to submit" in capsys.readouterr().out
    deadline = time.time() + 300
    while time.time() < deadline:
        main(["status", str(spec)])
        status = capsys.readouterr().out
        if "4 done" in status:
            break
        time.sleep(2)
    assert "4 done" in status, status
    assert "finished but not collected" in status
    assert main(["collect", str(spec)]) == 0
    assert "imported 4 results" in capsys.readouterr().out
    assert main(["table", str(spec)]) == 0
    assert "2 models" in capsys.readouterr().out
    # myqueue ran each task in its folder: its output files are there
    outs = list((spec.parent / "tasks").glob("*/alkali_layers.task.*.out"))
    assert len(outs) == 4
