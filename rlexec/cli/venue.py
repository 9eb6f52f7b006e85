"""`rlexec venue`: replay a LOBSTER day behind a FIX 4.4 acceptor until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from rlexec.market.errors import RlexecError

HELP = "run the FIX venue: a LOBSTER day replayed with clients' orders matched in it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="LOBSTER message file (.csv or .csv.gz)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 9878; 0 = any free)")
    parser.add_argument("--comp-id", help="the venue's SenderCompID (default VENUE)")
    parser.add_argument(
        "--clients", help="allowed client CompIDs, comma-separated (default CLIENT)"
    )
    parser.add_argument(
        "--speed", type=float, help="replay speed: 1 = real time (default), 0 = as fast as possible"
    )
    parser.add_argument("--start", help="replay from this New York time of day, HH:MM[:SS]")
    parser.add_argument("--config", type=Path, help="settings file (TOML or JSON)")
    parser.add_argument(
        "--busy-poll-us",
        type=int,
        help="poll for US µs after FIX traffic rather than sleep (default 0: off)",
        metavar="US",
    )
    parser.add_argument(
        "--metrics-port", type=_port, help="serve Prometheus metrics on METRICS_HOST:PORT"
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address for the metrics server (default 127.0.0.1; 0.0.0.0 inside a container)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def run(args: argparse.Namespace) -> int:
    from rlexec.simulator.venue_config import load_venue_config

    overrides: dict[str, Any] = {
        "data": args.data,
        "host": args.host,
        "port": args.port,
        "comp_id": args.comp_id,
        "speed": args.speed,
        "start": args.start,
        "busy_poll_us": args.busy_poll_us,
    }
    if args.clients is not None:
        overrides["clients"] = _clients(args.clients, args.config)
    if args.data is None and args.config is None:
        raise RlexecError("--data is required: the LOBSTER message file to replay")
    config = load_venue_config(args.config, overrides)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from rlexec.gateway import eventloop

    eventloop.run(
        _serve(config, args.metrics_host, args.metrics_port), busy_poll_us=config.busy_poll_us
    )
    return 0


def _clients(text: str, config_path: Path | None) -> list[dict[str, Any]]:
    """Client entries for the listed CompIDs, keeping any settings the config file has for them."""
    from rlexec.simulator.venue_config import load_venue_config

    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise RlexecError("--clients: give at least one client CompID")
    known: dict[str, dict[str, Any]] = {}
    if config_path is not None:
        base = load_venue_config(config_path, {"data": "-"})
        known = {c.comp_id: c.model_dump() for c in base.clients}
    return [known.get(name, {"comp_id": name}) for name in names]


async def _serve(config: Any, metrics_host: str, metrics_port: int | None) -> None:
    from rlexec.simulator.venue import Venue

    venue = Venue(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await venue.start()
    except OSError as exc:
        raise RlexecError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
        ) from None
    if metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, addr=metrics_host, registry=venue.metrics.registry)
        except OSError as exc:
            await venue.stop()
            raise RlexecError(
                f"--metrics-host/--metrics-port: cannot listen on {metrics_host}:{metrics_port}: "
                f"{exc.strerror or exc}"
            ) from None
    data = venue.data
    print(
        f"rlexec venue: listening on {config.host}:{venue.port} as {config.comp_id} "
        f"for {', '.join(venue.handlers)}; {data.symbol} {data.date or ''} level {data.levels}, "
        f"speed {config.speed or 'max'}",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    print("rlexec venue: stopping, logging every client out", file=sys.stderr, flush=True)
    await venue.stop()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0..65535")
    return port
