"""`rlexec fix-probe`: check connectivity to a FIX venue by logging on and trading a few orders."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from rlexec.gateway.errors import ConfigError
from rlexec.gateway.probe import ProbeOptions, probe_succeeded, run_probe
from rlexec.gateway.values import parse_price
from rlexec.market.errors import RlexecError
from rlexec.market.orders import Side

HELP = "log on to a FIX venue, send N limit orders, wait for their reports, print one JSON object"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", required=True, help="venue host")
    parser.add_argument("--port", required=True, type=int, help="venue port")
    parser.add_argument("--sender", required=True, help="our SenderCompID")
    parser.add_argument("--target", required=True, help="the venue's CompID (our TargetCompID)")
    parser.add_argument("--orders", type=int, default=1, help="limit orders to send (default 1)")
    parser.add_argument("--symbol", default="AAPL", help="symbol (default AAPL)")
    parser.add_argument("--price", default="100", help="limit price, decimal (default 100)")
    parser.add_argument("--qty", type=int, default=1, help="quantity per order (default 1)")
    parser.add_argument("--side", choices=["buy", "sell"], default="buy")
    parser.add_argument(
        "--store",
        type=Path,
        help="directory for sequence numbers (default: none, log on with ResetSeqNumFlag=Y)",
    )
    parser.add_argument("--reset", action="store_true", help="send ResetSeqNumFlag=Y on logon")
    parser.add_argument("--username", help="Username (553) for the Logon")
    parser.add_argument("--password", help="Password (554) for the Logon")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="HeartBtInt in seconds")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for logon and for answers"
    )
    parser.add_argument(
        "--keep-working", action="store_true", help="leave unfilled orders working (no cancel)"
    )
    parser.add_argument("--verbose", action="store_true", help="log session events to stderr")


FLAGS = {
    "port": "--port",
    "orders": "--orders",
    "quantity": "--qty",
    "price": "--price",
    "heartbeat_interval": "--heartbeat",
    "answer_timeout": "--timeout",
    "logon_timeout": "--timeout",
    "sender_comp_id": "--sender",
    "target_comp_id": "--target",
    "username": "--username",
    "password": "--password",
}
"""The probe's settings by the flag a user typed (its errors name the flag, not the field)."""


def run(args: argparse.Namespace) -> int:
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    else:
        # The JSON carries the outcome; session log lines only with --verbose.
        logging.getLogger("rlexec.gateway").addHandler(logging.NullHandler())
    try:
        price = parse_price(str(args.price).encode())
    except RlexecError:
        raise RlexecError(f"--price: not a decimal price: {args.price!r}") from None
    if not args.symbol or not args.symbol.isprintable() or "=" in args.symbol:
        raise RlexecError(f"--symbol: not a symbol: {args.symbol!r}")
    try:
        options = _options(args, price)
    except ConfigError as exc:
        raise RlexecError(f"{FLAGS.get(exc.key, exc.key)}: {exc.reason}") from None
    from rlexec.gateway import eventloop

    try:
        result = eventloop.run(run_probe(options))
    except ConfigError as exc:  # the session's own settings, checked as the probe starts
        if exc.key not in FLAGS:
            raise
        raise RlexecError(f"{FLAGS[exc.key]}: {exc.reason}") from None
    print(json.dumps(result))
    return 0 if probe_succeeded(result) else 1


def _options(args: argparse.Namespace, price: int) -> ProbeOptions:
    return ProbeOptions(
        host=args.host,
        port=args.port,
        sender=args.sender,
        target=args.target,
        symbol=args.symbol,
        price=price,
        quantity=args.qty,
        side=Side.BUY if args.side == "buy" else Side.SELL,
        orders=args.orders,
        store_dir=args.store,
        reset=args.reset,
        heartbeat=args.heartbeat,
        logon_timeout=args.timeout,
        answer_timeout=args.timeout,
        cancel_working=not args.keep_working,
        username=args.username,
        password=args.password,
    )
