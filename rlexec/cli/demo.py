"""`rlexec demo`: the whole product in about a minute, with nothing to install or start.

It starts `rlexec venue` on loopback replaying the shared AAPL day at `--speed` × real time,
runs the live service against it on the venue's clock, lets the features watch 180 s of
market (as in training), then submits two parents on the same window — the shipped RL
policy and TWAP — shows their progress, and ends with a summary table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rlexec.market.errors import RlexecError

HELP = "start a venue on loopback and trade an RL and a TWAP parent through the live service"

WARMUP_S = 180.0
_LISTENING = re.compile(rb"listening on ([0-9.]+):(\d+)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="LOBSTER message file (default: the AAPL day)")
    parser.add_argument("--speed", type=float, default=20.0, help="venue speed × real time")
    parser.add_argument("--start", default="10:00", help="replay from this New York time")
    parser.add_argument("--side", choices=["buy", "sell"], default="buy")
    parser.add_argument("--quantity", type=int, default=30_000, help="shares per parent")
    parser.add_argument("--horizon", type=float, default=600.0, help="parent horizon, seconds")
    parser.add_argument("--algos", default="rl,twap", help="one parent per algo, same window")
    parser.add_argument("--audit-log", type=Path, help="write the decision audit here (JSONL)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--timeout", type=float, default=180.0, help="wall-clock limit, seconds")


def run(args: argparse.Namespace) -> int:
    from rlexec.market.sample_data import default_data

    data = args.data or Path(default_data())
    if not data.is_file():
        raise RlexecError(f"{data}: no such LOBSTER message file (set DATA_DIR or --data)")
    if not args.speed > 0 or not math.isfinite(args.speed):
        raise RlexecError(f"--speed must be a positive number, got {args.speed}")
    if not args.timeout > 0 or not math.isfinite(args.timeout):
        raise RlexecError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    settings, specs = _checked(args, data)
    from rlexec.gateway import eventloop

    summary = eventloop.run(_demo(args, data, settings, specs))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_table(summary))
    bad = [p for p in summary["parents"] if p["state"] != "completed"]
    if bad:
        raise RlexecError(
            "parents did not complete: "
            + ", ".join(f"{p['algo']} {p['state']} ({p['reason']})" for p in bad)
        )
    if summary["left_working"]:
        raise RlexecError(f"{summary['left_working']} child orders still working at shutdown")
    return 0


_FLAGS: dict[tuple[str, ...], str] = {
    ("audit_log",): "--audit-log",
    ("symbols",): "--data (its file name's ticker)",
    ("symbol",): "--data (its file name's ticker)",
    ("side",): "--side",
    ("quantity",): "--quantity",
    ("horizon_s",): "--horizon",
    ("algo",): "--algos",
}
"""Settings key → the flag that gives it (the source named in errors)."""


def _checked(args: argparse.Namespace, data: Path) -> tuple[Any, list[Any]]:
    """The service settings (venue address to be filled in) and one parent per algo.

    Checked before the venue starts: a bad flag is one line naming it, not an internal
    error after the warm-up.
    """
    from pydantic import ValidationError

    from rlexec.market.settings import validation_error
    from rlexec.service.config import ParentSpec, ServiceConfigError, ServiceSettings

    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    if not algos:
        raise RlexecError(f"--algos: give at least one algo, got {args.algos!r}")
    try:
        settings = ServiceSettings(
            venue="127.0.0.1:1", clock="venue", symbols=(_symbol(data),),
            api="127.0.0.1:0", audit_log=args.audit_log, log_format="text",
            stale_after_s=30.0,
        )  # fmt: skip
        specs = [
            ParentSpec(
                symbol=settings.symbols[0],
                side=args.side,
                quantity=args.quantity,
                horizon_s=args.horizon,
                algo=a,
            )
            for a in algos
        ]
    except ValidationError as exc:
        raise validation_error(exc, ServiceConfigError, _FLAGS) from None
    return settings, specs


async def _start_venue(args: argparse.Namespace, data: Path) -> tuple[Any, int]:
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "venue", "--data", str(data), "--port", "0",
        "--speed", str(args.speed), "--start", args.start, "--clients", "CLIENT,CLIENT-MD",
        "--log-level", "WARNING",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while True:
                line = await proc.stderr.readline()
                if not line:
                    tail = b" / ".join(lines[-3:]).decode(errors="replace")
                    raise RlexecError(f"the venue exited before listening: {tail}")
                lines.append(line.strip())
                found = _LISTENING.search(line)
                if found:
                    return proc, int(found.group(2))
    except TimeoutError:
        proc.kill()
        raise RlexecError("the venue did not start listening within 60 s") from None


async def _demo(
    args: argparse.Namespace, data: Path, checked: Any, specs: list[Any]
) -> dict[str, Any]:
    from rlexec.service.config import ServiceSettings
    from rlexec.service.heap import settle_heap
    from rlexec.service.logs import configure_logging
    from rlexec.service.runtime import Service

    configure_logging("text", "ERROR")
    wall_start = time.monotonic()
    proc, port = await _start_venue(args, data)
    drain = asyncio.create_task(_drain(proc.stderr))
    service: Service | None = None
    try:
        settings = ServiceSettings.model_validate(
            {**checked.model_dump(), "venue": f"127.0.0.1:{port}"}
        )
        service = Service(settings)
        await service.start()
        settle_heap(service.metrics)  # as `rlexec serve` does: what lives for good, frozen
        symbol = service.symbols[0]
        clock = service.clock
        deadline = wall_start + args.timeout
        while clock.now_ns() == 0:
            await _tick(deadline, "no market data from the venue")
        warm_until = clock.now_ns() + int(WARMUP_S * 1e9)
        out = _Screen(sys.stderr)
        while clock.now_ns() < warm_until:
            await _tick(deadline, "the venue's clock stopped during warm-up")
            left = (warm_until - clock.now_ns()) / 1e9
            out.show([f"warming up the features on {symbol}: {left:5.0f} s of market to go"])
        parents = [service.parents.submit(spec) for spec in specs]
        while any(not p.state.is_terminal for p in parents):
            await _tick(deadline, "the parents did not finish in time")
            out.show([_progress_line(p, clock.now_ns()) for p in parents])
        out.show([_progress_line(p, clock.now_ns()) for p in parents], final=True)
        stopped = await service.stop()
        service = None
        return _summary(parents, stopped, time.monotonic() - wall_start, args)
    finally:
        if service is not None:
            with contextlib.suppress(Exception):
                await service.stop(grace_s=2.0)
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await proc.wait()
            if proc.returncode is None:
                proc.kill()
        drain.cancel()


async def _drain(stream: asyncio.StreamReader | None) -> None:
    if stream is None:
        return
    while await stream.readline():
        pass


async def _tick(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise RlexecError(f"{what} (timeout)")
    await asyncio.sleep(0.2)


def _symbol(data: Path) -> str:
    return data.name.split("_", 1)[0]


class _Screen:
    """Redraw a block of lines in place on a terminal; print every 5 s otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.drawn = 0
        self.last = 0.0

    def show(self, lines: list[str], final: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F")
            self.stream.write("".join(f"{line}\x1b[K\n" for line in lines))
            self.drawn = len(lines)
        elif final or now - self.last >= 5.0:
            self.stream.write("".join(f"{line}\n" for line in lines))
            self.last = now
        self.stream.flush()


def _progress_line(parent: Any, now_ns: int) -> str:
    q = parent.spec.quantity
    frac = parent.filled / q
    bar = "█" * int(24 * frac) + "·" * (24 - int(24 * frac))
    is_bps = parent.is_bps
    is_text = f"{is_bps:+6.2f} bps" if is_bps is not None else "   n/a    "
    return (
        f"{parent.spec.algo:>5} {bar} {parent.filled:>6}/{q} {frac:6.1%}  "
        f"children {parent.children:>4}  IS {is_text}  schedule {parent.schedule_filled(now_ns):>6}"
        f"  {parent.state.value}"
    )


def _percentile(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def _summary(parents: list[Any], stopped: dict[str, int], wall_s: float,
             args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    rows = []
    for p in parents:
        rows.append({
            "algo": p.spec.algo, "state": p.state.value, "reason": p.reason,
            "quantity": p.spec.quantity, "filled": p.filled, "fills": p.fills,
            "avg_price": p.avg_price, "arrival_mid": p.ex.state.arrival_mid / 10_000 if p.ex else None,
            "is_bps": p.is_bps, "child_orders": p.children, "risk_denials": p.denials,
            "decisions": p.decisions,
            "decision_latency_us": {"p50": _percentile(p.latencies_ns, 0.5),
                                    "p99": _percentile(p.latencies_ns, 0.99)},
        })  # fmt: skip
    return {
        "parents": rows, "left_working": stopped["left_working"],
        "cancels_at_shutdown": stopped["cancels_sent"], "wall_s": round(wall_s, 1),
        "speed": args.speed, "horizon_s": args.horizon,
    }  # fmt: skip


def _table(summary: dict[str, Any]) -> str:
    head = ("algo", "state", "filled", "fills", "avg price", "arrival", "IS bps", "children",
            "denials", "p50 µs", "p99 µs")  # fmt: skip
    lines = ["  ".join(f"{h:>9}" for h in head)]
    for r in summary["parents"]:
        lat = r["decision_latency_us"]
        cells = (
            r["algo"], r["state"], f"{r['filled']}/{r['quantity']}", r["fills"],
            _num(r["avg_price"], 4), _num(r["arrival_mid"], 4), _num(r["is_bps"], 2),
            r["child_orders"], r["risk_denials"], _num(lat["p50"], 0), _num(lat["p99"], 0),
        )  # fmt: skip
        lines.append("  ".join(f"{c!s:>9}" for c in cells))
    lines.append(
        f"{summary['horizon_s']:g} s parents at {summary['speed']:g}× real time in "
        f"{summary['wall_s']} s of wall time; {summary['left_working']} orders left working"
    )
    lines.append(
        "One window, two parents competing in the same market: a demonstration, not evidence "
        "(the model card has the out-of-sample comparison)."
    )
    return "\n".join(lines)


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
