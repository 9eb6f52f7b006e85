"""A real Ray cluster (a head and worker nodes) on loopback, for tests and benchmarks.

Ray binds the machine's outward-facing address by default, so the cluster is only ever
started inside a private network namespace whose one interface is `lo` (there Ray binds
127.0.0.1 and nothing can leave the machine): `in_private_network` runs a script that way,
in its own PID namespace too, so every process the script left behind dies with it.
`LoopbackCluster` refuses to start anywhere else.

Each node is `ray start --block` in a session of its own; a node is stopped (or killed, to
test fault tolerance) by signalling every process of that session, found by its session
id in /proc: Ray's worker processes leave the node's process group, not its session.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

RAY = Path(sys.executable).with_name("ray")
HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 3,
          "health_check_initial_delay_ms": 0}  # fmt: skip
"""A lost node is declared dead after ~1.5 s instead of Ray's default ~15 s."""


REPO = Path(__file__).resolve().parent.parent


def in_private_network(argv: list[str], timeout: float) -> str:
    """Run `python argv…` in new network and PID namespaces with only `lo` up; its stdout.

    This checkout comes first on PYTHONPATH, so the Ray nodes started inside, and their
    worker processes, import the same rlexec as the driver. Ray's token authentication is on,
    with a fresh token in the environment: nothing depends on, or writes, ~/.ray/auth_token
    (which Ray otherwise reads, and creates for a local cluster, in the shared home). Every
    temporary file (Ray's sessions, logs and sockets included) goes to one folder, removed
    afterwards."""
    inner = " ".join(shlex.quote(a) for a in [sys.executable, *argv])
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    scratch = tempfile.mkdtemp(prefix="rlexec-ns-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=secrets.token_hex(32), TMPDIR=scratch, RAY_TMPDIR=scratch)  # fmt: skip
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    try:
        proc = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c",
             f"ip link set lo up && exec {inner}"],
            capture_output=True, text=True, timeout=timeout, env=env, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-4000:]}")
    return proc.stdout


def only_loopback() -> bool:
    """This process's network namespace has no interface but lo."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def _session_members(sid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid:  # state, ppid, pgrp, session
            members.append(int(entry))
    return members


def signal_session(sid: int, sig: signal.Signals) -> int:
    """Send `sig` to every process of session `sid` (a node this module started)."""
    members = _session_members(sid)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return len(members)


def alive_nodes() -> list[str]:
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [str(n["NodeID"]) for n in nodes if n["Alive"]]


class LoopbackCluster:
    def __init__(self, workers: int = 1, head_cpus: int = 1, worker_cpus: int = 1) -> None:
        if not only_loopback():
            raise RuntimeError(
                "LoopbackCluster runs only inside a namespace whose one interface is lo"
            )
        self.port = 6379 + 11  # the namespace is private: no other Ray can hold it
        self.address = f"127.0.0.1:{self.port}"
        self.head_cpus, self.worker_cpus, self.worker_count = head_cpus, worker_cpus, workers
        self.temp = tempfile.mkdtemp(prefix="rlexec-ray-")
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.log = open(os.path.join(self.temp, "nodes.log"), "wb")  # noqa: SIM115 - closed in stop
        self.start_seconds = 0.0
        self.head_node_id = ""
        self.worker_node_ids: list[str] = []

    def _start(self, args: list[str]) -> subprocess.Popen[bytes]:
        env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
        node = subprocess.Popen(
            [str(RAY), "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
             *args],
            start_new_session=True, env=env, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        self.nodes.append(node)
        return node

    def start(self) -> LoopbackCluster:
        import ray

        started = time.perf_counter()
        self._start(["--head", f"--port={self.port}", f"--num-cpus={self.head_cpus}",
                     "--include-dashboard=false", f"--temp-dir={self.temp}",
                     f"--system-config={json.dumps(HEALTH)}"])  # fmt: skip
        for _ in range(self.worker_count):
            self._start([f"--address={self.address}", f"--num-cpus={self.worker_cpus}"])
        deadline = time.monotonic() + 120
        while True:
            try:
                ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False)
                break
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        while len(alive_nodes()) < 1 + self.worker_count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker nodes did not join; see {self.log.name}")
            time.sleep(0.2)
        self.head_node_id = ray.get_runtime_context().get_node_id()
        self.worker_node_ids = [n for n in alive_nodes() if n != self.head_node_id]
        ray.shutdown()  # users connect by address, as they would to any cluster
        self.start_seconds = round(time.perf_counter() - started, 2)
        return self

    def kill_worker(self, index: int = 0) -> int:
        """SIGKILL every process of worker node `index`, as a machine that vanished."""
        return signal_session(self.nodes[1 + index].pid, signal.SIGKILL)

    def stop(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for node in reversed(self.nodes):
            signal_session(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for node in self.nodes:
            while node.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            signal_session(node.pid, signal.SIGKILL)
            node.wait()
        self.log.close()

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
