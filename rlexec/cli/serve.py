"""`rlexec serve`: the live service — FIX to the venue, parents worked by their algos, risk-checked."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import signal
import sys

HELP = "run the live execution service against a FIX venue"

log = logging.getLogger("rlexec.service")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlexec.cli.serve_args import add_serve_arguments

    add_serve_arguments(parser)
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="stop (gracefully) once every parent given with --parent has finished",
    )
    parser.add_argument(
        "--stats-data",
        help="LOBSTER message file to estimate VWAP/POV/AC statistics from (training window)",
    )


def run(args: argparse.Namespace) -> int:
    from rlexec.cli.serve_args import settings_from_args
    from rlexec.service.logs import configure_logging

    settings = settings_from_args(args)
    configure_logging(settings.log_format, settings.log_level)
    from rlexec.gateway import eventloop

    return eventloop.run(
        _serve(settings, args.exit_when_done, args.stats_data), busy_poll_us=settings.busy_poll_us
    )


async def _serve(settings: object, exit_when_done: bool, stats_data: str | None) -> int:
    from pathlib import Path

    from rlexec.market.errors import RlexecError
    from rlexec.service.config import ServiceSettings
    from rlexec.service.heap import settle_heap
    from rlexec.service.runtime import Service, StartInterruptedError, load_stats

    assert isinstance(settings, ServiceSettings)
    stats = load_stats(Path(stats_data)) if stats_data else None
    service = Service(settings, stats=stats)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def kill() -> None:
        result = service.control.kill("operator", "SIGUSR1 (kill switch without the HTTP API)")
        log.warning("event=kill_signal signal=SIGUSR1 state=%s cancels_sent=%d parents_cancelled=%d",
                    result.state, result.cancels_sent, result.parents_cancelled)  # fmt: skip

    loop.add_signal_handler(signal.SIGUSR1, kill)
    try:
        await service.start(interrupt=stop)
    except StartInterruptedError as exc:
        log.info("event=service_stopped reason=%r left_working=%d", str(exc), exc.left_working)
        return 0 if exc.left_working == 0 else 1
    gc_watch = settle_heap(service.metrics)  # started: what lives for good, frozen
    # One write with its newline: `print` writes the text and the newline apart, and the log's
    # writer thread (the same stderr) could put a JSON line between them, joined to this one.
    sys.stderr.write(f"rlexec serve: trading {', '.join(service.symbols)} on {settings.venue}; "
                     f"metrics on http://{settings.api_host}:{service.api_port}/metrics\n")  # fmt: skip
    sys.stderr.flush()
    for spec in settings.parents:
        try:
            service.parents.submit(spec)
        except RlexecError as exc:  # e.g. the restored kill switch is HALTED: keep serving
            log.error("event=parent_refused symbol=%s side=%s quantity=%d algo=%s error=%r",
                      spec.symbol, spec.side, spec.quantity, spec.algo, str(exc))  # fmt: skip
    while not stop.is_set():
        if exit_when_done and settings.parents and not service.parents.active():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    result = await service.stop()
    gc_watch.stop()
    for parent in service.parents.parents.values():
        # Through the log's one writer: a print here could interleave with its lines.
        summary = parent.summary(service.clock.now_ns())
        log.info("event=parent_summary %s",
                 " ".join(f"{k}={shlex.quote(str(v))}" for k, v in summary.items()))  # fmt: skip
    return 0 if result["left_working"] == 0 else 1
