"""Backtest throughput locally and on a two-node Ray cluster on loopback; Ray's overheads.

    python bench/scale.py [--episodes 40] [--algos twap,rl] [--chunk 10]

Prints one JSON object:
- `local` / `cluster_cold` / `cluster_warm`: the same multi-file backtest tasks (AAPL and
  AMZN level 1, small orders, off the evaluation plan's test windows) through `LocalExecutor` in this process, and twice through `RayExecutor`
  on a head and a worker node of one CPU each (cold: the job's worker processes start,
  import rlexec and build the replays; warm: they are running): seconds, episodes/s, and
  for the cluster the bytes shipped and tasks per node. On a 2-core machine expect parity
  at best, not speed-up: the cluster has the same two cores and pays for its processes;
  `cpu_ms_per_episode` counts the CPU of every process involved (the namespace's /proc): on
  a machine shared with other work, wall-clock rates favour whoever runs more processes,
  CPU per episode does not;
- `overhead`: what Ray adds per task (a no-op task with the executor's options, submitted
  in a batch), per progress report (a fire-and-forget actor call), per byte shipped
  (parsing the file on the driver, `ray.put` of its columns, and a task on the worker node
  fetching them) and per worker process and file (building the replay from the columns);
- `load_avg`: `os.getloadavg()` before and after: the machine is shared, read the figures
  against it.

Ray binds the machine's outward address by default, so the whole benchmark runs inside a
private network namespace with only `lo` (bench/ray_cluster.py), re-executing itself there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ray_cluster import LoopbackCluster, in_private_network, only_loopback
from rlexec.market.sample_data import data_dir

FILES = {
    "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz": ("11:25-13:00", "09:35-11:25"),
    "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz": ("14:00-15:55", "13:00-14:00"),
}
"""(episode window, calibration window) per file: off the evaluation plan's test splits
(AAPL 13:00-15:55, AMZN 09:35-13:00); a speed benchmark has no business there either."""
SEED, SIZES = 11, "small"


def tasks(args: argparse.Namespace) -> list[Any]:
    """The algorithms prepared per file on the driver, as a multi-file backtest does."""
    from rlexec.models.algo_registry import prepare_context
    from rlexec.models.backtest_tasks import load_data, plan
    from rlexec.models.market_stats import Window, estimate

    algos = args.algos.split(",")
    planned = []
    for name, (window, stats_window) in FILES.items():
        data = load_data(str(data_dir() / name))
        test, train = Window.parse(window), Window.parse(stats_window)
        stats = estimate(data, train, bucket_s=1800)
        context = prepare_context(algos, data=data, test=test, train=train, stats=stats, seed=SEED)
        planned += plan(data_dir() / name, window, stats_window, algos, context, args.episodes,
                        SEED, args.chunk, sizes=SIZES)  # fmt: skip
    return planned


def cpu_seconds() -> float:
    """CPU time of every process in this PID namespace (the driver, and every Ray process of
    the cluster: raylets, GCS, workers), including reaped children."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def measured(episodes: int, seconds: float, cpu: float) -> dict[str, Any]:
    return {"episodes": episodes, "seconds": round(seconds, 2),
            "episodes_per_s": round(episodes / seconds, 2),
            "cpu_ms_per_episode": round(cpu / episodes * 1e3, 1)}  # fmt: skip


def local_run(args: argparse.Namespace) -> dict[str, Any]:
    from rlexec.models.backtest_tasks import LocalExecutor

    work = tasks(args)
    cpu, started = cpu_seconds(), time.perf_counter()
    done = LocalExecutor().run(work, None)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {"tasks": len(work), **measured(sum(len(r.results) for r in done), seconds, cpu)}


def cluster_runs(args: argparse.Namespace, address: str) -> list[dict[str, Any]]:
    """The same tasks twice in one job: the first run starts the job's worker processes
    (Python, imports) and builds the replays; the second finds the processes warm."""
    from rlexec.scale.executor import RayExecutor

    work = tasks(args)
    runs = []
    with RayExecutor(address) as executor:
        for _ in range(2):
            cpu, started = cpu_seconds(), time.perf_counter()
            done = executor.run(work, None)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            stats = executor.stats
            runs.append({
                "tasks": len(work), **measured(sum(len(r.results) for r in done), seconds, cpu),
                "bytes_shipped": stats.bytes_shipped,
                "tasks_per_node": sorted(stats.nodes.values(), reverse=True),
            })  # fmt: skip
    return runs


def _noop() -> int:
    return 0


def fetch_and_build(box: list[Any]) -> tuple[float, float]:
    """On the worker node: fetch a shipped file from the driver's node, build its replay."""
    import ray

    t0 = time.perf_counter()
    file = ray.get(box[0])
    t1 = time.perf_counter()
    file.replay_data()
    return t1 - t0, time.perf_counter() - t1


def overheads(address: str, worker: str) -> dict[str, Any]:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from rlexec.scale.executor import RETRY_EXCEPTIONS
    from rlexec.scale.progress import start_board
    from rlexec.simulator.data import ReplayFile

    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        noop = ray.remote(_noop).options(num_cpus=1, max_retries=3,
                                         retry_exceptions=RETRY_EXCEPTIONS, scheduling_strategy="SPREAD")  # fmt: skip
        ray.get([noop.remote() for _ in range(20)])  # warm the worker processes
        n = 400
        started = time.perf_counter()
        ray.get([noop.remote() for _ in range(n)])
        per_task_us = (time.perf_counter() - started) / n * 1e6

        board = start_board()
        ray.get(board.snapshot.remote())
        m = 2000
        started = time.perf_counter()
        for i in range(m):
            board.report.remote(i % 50, i, m, "node", "attempt")
        ray.get(board.snapshot.remote())
        per_report_us = (time.perf_counter() - started) / m * 1e6
        ray.kill(board)

        t0 = time.perf_counter()
        first = next(iter(FILES))
        shipped = ReplayFile.read(data_dir() / first)
        parse_s = time.perf_counter() - t0
        puts, fetches, builds = [], [], []
        there = NodeAffinitySchedulingStrategy(node_id=worker, soft=False)
        remote_fetch = ray.remote(fetch_and_build).options(num_cpus=1, scheduling_strategy=there)

        for _ in range(3):
            t0 = time.perf_counter()
            ref = ray.put(shipped)
            puts.append(time.perf_counter() - t0)
            fetch, build = ray.get(remote_fetch.remote([ref]))
            fetches.append(fetch)
            builds.append(build)
            del ref
        mb = shipped.nbytes / 1e6
        return {
            "per_task_us": round(per_task_us),
            "per_progress_report_us": round(per_report_us, 1),
            "file": first, "file_mb": round(mb, 2), "driver_parse_s": round(parse_s, 2),
            "put_ms_per_mb": round(statistics.median(puts) / mb * 1e3, 2),
            "fetch_on_other_node_ms_per_mb": round(statistics.median(fetches) / mb * 1e3, 2),
            "replay_build_s_per_process_and_file": round(statistics.median(builds), 2),
        }  # fmt: skip
    finally:
        ray.shutdown()


def inside(args: argparse.Namespace) -> dict[str, Any]:
    load_before = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {"episodes_per_file_and_algo": args.episodes, "algos": args.algos,
                              "chunk": args.chunk, "sizes": SIZES,
                              "files": {k: list(v) for k, v in FILES.items()}}  # fmt: skip
    result["local"] = local_run(args)
    with LoopbackCluster(workers=1, head_cpus=1, worker_cpus=1) as cluster:
        result["cluster_start_s"] = cluster.start_seconds
        result["cluster_cold"], result["cluster_warm"] = cluster_runs(args, cluster.address)
        result["overhead"] = overheads(cluster.address, cluster.worker_node_ids[0])
    warm, alone = result["cluster_warm"], result["local"]
    result["cluster_over_local_episodes_per_s"] = round(
        warm["episodes_per_s"] / alone["episodes_per_s"], 2
    )
    result["cluster_over_local_cpu_per_episode"] = round(
        warm["cpu_ms_per_episode"] / alone["cpu_ms_per_episode"], 2
    )
    result["load_avg"] = {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}
    result["cores"] = os.cpu_count()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=40, help="per file and algorithm")
    parser.add_argument("--algos", default="twap,rl")
    parser.add_argument("--chunk", type=int, default=10, help="episodes per task")
    args = parser.parse_args()
    if args.episodes < 1 or args.chunk < 1:
        print("bench/scale.py: --episodes and --chunk must be positive", file=sys.stderr)
        return 2
    if only_loopback():
        print(json.dumps(inside(args)))
        return 0
    argv = [str(Path(__file__).resolve()), "--episodes", str(args.episodes), "--algos",
            args.algos, "--chunk", str(args.chunk)]  # fmt: skip
    print(in_private_network(argv, timeout=1800).strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
