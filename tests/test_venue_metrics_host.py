"""`rlexec venue --metrics-host`: the metrics server binds where it is told (a container needs
its own interface), and an address it cannot bind stops start-up naming the flag."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.service_support import free_port


def _venue(data: Path, metrics_host: str, metrics_port: int) -> subprocess.Popen[str]:
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "venue", "--data", str(data),
        "--port", "0", "--speed", "1", "--metrics-host", metrics_host,
        "--metrics-port", str(metrics_port), "--log-level", "WARNING",
    ]  # fmt: skip
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def _get(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2) as r:
        return str(r.read().decode())


def test_metrics_served_on_the_given_host_only(aapl_message: Path) -> None:
    port = free_port()
    proc = _venue(aapl_message, "127.0.0.2", port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                text = _get("127.0.0.2", port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert "rlexec_venue_" in text
        with pytest.raises(urllib.error.URLError):
            _get("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)


def test_unbindable_metrics_host_names_the_flag(aapl_message: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is never an address of this machine: bind() fails, nothing is sent.
    proc = _venue(aapl_message, "192.0.2.1", free_port())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "--metrics-host" in err and "192.0.2.1" in err, err
    assert "Traceback" not in err
