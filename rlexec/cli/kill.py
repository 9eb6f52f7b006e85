"""`rlexec kill`: HALTED (or `--reduce`: REDUCING) through the control API."""

from __future__ import annotations

import argparse
import sys

HELP = "engage the kill switch: HALTED, every working order cancelled (--reduce: REDUCING)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlexec.cli.client import add_api_arguments

    add_api_arguments(parser)
    parser.add_argument("--why", required=True, help="the reason, recorded with the transition")
    parser.add_argument("--who", help="who asks (default: the token's role)")
    parser.add_argument("--reduce", action="store_true", help="REDUCING instead of HALTED")


def run(args: argparse.Namespace) -> int:
    from rlexec.cli.client import client_from_args, kill_view, print_json

    body = {"why": args.why} | ({"who": args.who} if args.who else {})
    path = "/v1/kill/reduce" if args.reduce else "/v1/kill"
    # Checked even for --json: a script must not take a malformed answer for a kill done.
    answer = client_from_args(args).post(path, body, shape=kill_view)
    if args.json:
        print_json(answer)
    else:
        print(f"{answer['state']}: {answer['cancels_sent']} cancels sent, "
              f"{answer['parents_cancelled']} parents cancelled")  # fmt: skip
    if answer.get("persisted") is False:
        print(f"rlexec kill: warning: {answer['state']} took effect, but the state store refused "
              "it; the service retries the save every 100 ms, and a restart before it lands "
              "would come back in the last saved state (see /readyz)", file=sys.stderr)  # fmt: skip
    return 0
