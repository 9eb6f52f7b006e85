"""`rlexec resume`: lift HALTED or REDUCING through the control API (the risk role only)."""

from __future__ import annotations

import argparse

HELP = "lift the kill switch (risk role): to ACTIVE, or --to REDUCING to only unwind"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlexec.cli.client import add_api_arguments

    add_api_arguments(parser)
    parser.add_argument("--who", required=True, help="the person lifting it")
    parser.add_argument("--why", required=True, help="the reason, recorded with the transition")
    parser.add_argument("--to", choices=("ACTIVE", "REDUCING"), default="ACTIVE")


def run(args: argparse.Namespace) -> int:
    from rlexec.cli.client import client_from_args, print_json, risk_view

    body = {"who": args.who, "why": args.why, "to": args.to}
    answer = client_from_args(args).post("/v1/resume", body, shape=risk_view)
    if args.json:
        print_json(answer)
    else:
        print(f"{answer['state']}: {answer['working_orders']} working orders")
    return 0
