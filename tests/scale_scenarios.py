"""Driver for tests/test_scale_ray.py, run inside a private network namespace (only `lo`).

    scale_scenarios.py OUT DATA_A DATA_B MODEL

1. `rlexec backtest --ray` with no address over two files: a local Ray started and stopped
   by the command, the files parsed and their algorithms prepared by tasks on it
   (`--ray-read cluster`);
2. a loopback cluster (head + one worker node, one CPU each) started here;
3. `rlexec backtest --ray ADDRESS` over two files, and `--sensitivity` on one;
4. `rlexec sweep --ray ADDRESS`: two tiny trials;
5. the same backtest as 3 through `RayExecutor` (other chunks, progress after every
   episode), the worker node SIGKILLed mid-run while a task of its own has at least 3
   episodes to go;
then the cluster is stopped. Prints one JSON object; outputs land under OUT.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ray_cluster import LoopbackCluster, only_loopback
from rlexec.cli.main import main
from rlexec.models.multi import multi_backtest
from rlexec.scale.executor import RayExecutor
from tests.scale_support import STATS_WINDOW, WINDOW

ALGOS = "twap,vwap,rl,random"
EPISODES, CHUNK = 12, 4
KILL_CHUNK = 6
"""Another cut of the same episodes: results must not depend on it either."""
PLACE = ["--window", WINDOW, "--stats-window", STATS_WINDOW, "--sizes", "small"]
SMALL = ["--algos", "twap,vwap,rl", "--episodes", "6", "--chunk", "2", *PLACE]
"""vwap: its profile is prepared from the other ticker's day, on the cluster with --ray-read."""
SENSITIVITY = ["backtest", "--sensitivity", "--algos", "twap", "--episodes", "2", "--chunk", "1",
               *PLACE, "--data"]  # fmt: skip
"""The sensitivity grid: its rows are tasks like any other."""
SWEEP = ["--seeds", "1", "--learning-rates", "3e-4,1e-3", "--ent-coefs", "0.005",
         "--net-sizes", "16", "--intervals", "30", "--timesteps", "512", "--n-envs", "1",
         "--calibration-episodes", "2", "--validation-episodes", "4", "--sizes", "small"]  # fmt: skip


def cli(argv: list[str]) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"rlexec {' '.join(argv)} exited {code}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def backtest_args(files: list[str], model: str, out: Path) -> list[str]:
    return ["backtest", "--data", *files, "--model", model, "--algos", ALGOS,
            "--episodes", str(EPISODES), "--chunk", str(CHUNK), *PLACE, "--out", str(out)]  # fmt: skip


def main_() -> None:
    out, a, b, model = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    assert only_loopback(), "run me inside `unshare --net` with only lo up"
    report: dict[str, Any] = {}
    started = time.perf_counter()
    local = cli(["backtest", "--data", a, b, "--model", model, *SMALL,
                 "--out", str(out / "local_ray"), "--ray-read", "cluster", "--ray"])  # fmt: skip
    report["local_ray"] = local["ray"]
    with LoopbackCluster(workers=1, head_cpus=1, worker_cpus=1) as cluster:
        report["cluster"] = {"start_seconds": cluster.start_seconds, "head": cluster.head_node_id,
                             "workers": cluster.worker_node_ids}  # fmt: skip
        run = cli([*backtest_args([a, b], model, out / "cluster"), "--ray", cluster.address])
        report["cluster_backtest"] = run["ray"]
        grid = cli([*SENSITIVITY, a, "--out", str(out / "sensitivity"), "--ray", cluster.address])
        report["cluster_sensitivity"] = grid["ray"]
        sweep = cli(["sweep", "--data", a, *SWEEP, "--ray", cluster.address,
                     "--out", str(out / "sweep")])  # fmt: skip
        report["sweep"] = sweep
        worker = cluster.worker_node_ids[0]
        killed: dict[str, Any] = {}
        with RayExecutor(cluster.address, report_every_s=0.0) as executor:

            def progress(done: int, total: int) -> None:
                # Mid-run, and mid-task on the worker: at least 3 episodes of it still to go.
                running = executor.stats.running.get(worker, {})
                if not killed and done >= 8 and any(n <= KILL_CHUNK - 3 for n in running.values()):
                    killed["episodes_done"] = done
                    killed["worker_tasks_running"] = running
                    killed["processes"] = cluster.kill_worker(0)

            multi_backtest([a, b], out / "killed", ALGOS.split(","), Path(model), EPISODES,
                           11, WINDOW, STATS_WINDOW, progress, executor=executor,
                           chunk=KILL_CHUNK, sizes="small")  # fmt: skip
            report["killed_run"] = {**killed, "worker": worker, "stats": _plain(executor.stats)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))


def _plain(stats: Any) -> dict[str, Any]:
    from dataclasses import asdict

    result: dict[str, Any] = asdict(stats)
    return result


if __name__ == "__main__":
    main_()
