"""`rlexec serve` flags: parsed here, validated by `ServiceSettings` (flags > env > file).

Every flag defaults to None (not given), so an unset flag never hides a file or
environment value; the settings model does all checking, so a bad flag is reported like
any other bad setting, naming the flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlexec.service.config import ServiceSettings, load_service_settings

FLAGS: Mapping[str, str] = {
    "venue": "--venue",
    "sender": "--sender",
    "md_sender": "--md-sender",
    "target": "--target",
    "api": "--api",
    "state": "--state",
    "model": "--model",
    "clock": "--clock",
    "symbols": "--symbols",
    "risk_config": "--risk-config",
    "parents": "--parent",
    "audit_log": "--audit-log",
    "fix_store": "--fix-store",
    "log_format": "--log-format",
    "log_level": "--log-level",
    "decision_interval_s": "--decision-interval-s",
    "busy_poll_us": "--busy-poll-us",
    "resume_parents": "--resume-parents",
    "initialise": "--initialise",
    "drop_tightened_limits": "--drop-tightened-limits",
}
"""Settings key → its flag (the source named in errors)."""


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rlexec serve` flags; each overrides `RLEXEC_<KEY>` and the `[service]` table."""
    add = parser.add_argument
    add("--config", type=Path, help="settings file (TOML; its [service] and [risk] tables)")
    add("--venue", metavar="HOST:PORT", help="the FIX venue (default 127.0.0.1:9878)")
    add("--sender", help="SenderCompID of the order-entry session (default CLIENT)")
    add("--md-sender", help="SenderCompID of the market-data session (default CLIENT-MD)")
    add("--target", help="the venue's CompID (default VENUE)")
    add("--api", metavar="HOST:PORT", help="HTTP API address (default 127.0.0.1:8080)")
    add("--state", metavar="memory|redis://…", help="state store (default memory)")
    add("--model", type=Path, metavar="FILE", help="ONNX policy (default: the shipped model)")
    add("--clock", choices=["wall", "venue"], help="wall (default) or the venue's timestamps")
    add("--symbols", metavar="A,B", help="symbols to trade (with default risk limits if no file)")
    add("--risk-config", type=Path, metavar="FILE", help="risk limits TOML ([risk] table)")
    add(
        "--parent",
        action="append",
        metavar="SPEC",
        help='a parent to work, e.g. "buy 30000 AAPL 600s rl limit=585.5 pov=0.1 id=p1" '
        "(repeatable)",
    )
    add("--audit-log", type=Path, metavar="FILE", help="append every decision here (JSON lines)")
    add("--fix-store", type=Path, metavar="DIR", help="keep FIX session stores in this folder")
    add("--log-format", choices=["json", "text"], help="log line format (default json)")
    add(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default INFO",
    )
    add("--decision-interval-s", metavar="S", help="seconds between decisions (default 15)")
    add(
        "--busy-poll-us",
        metavar="US",
        help="poll for US µs after FIX traffic rather than sleep: lower latency for a core "
        "(default 0: off)",
    )
    add(
        "--resume-parents",
        action="store_true",
        default=None,
        help="after a restart, resume working parents (default: leave them paused)",
    )
    add(
        "--initialise",
        action="store_true",
        default=None,
        help="first start on an empty Redis state begins ACTIVE (never overwrites a saved state)",
    )
    add(
        "--drop-tightened-limits",
        action="store_true",
        default=None,
        help="start on the configured risk limits, forgetting tightenings made through the API "
        "(a restart on an unchanged configuration keeps them)",
    )


def settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ServiceSettings:
    """The flags over `RLEXEC_*` (`environ`, default the process's) over the `--config` file."""
    overrides: dict[str, Any] = {
        key: getattr(args, flag[2:].replace("-", "_")) for key, flag in FLAGS.items()
    }
    return load_service_settings(args.config, overrides, environ, flags=FLAGS)
