"""`rlexec parents submit|list|show|cancel`: parent orders through the service's HTTP API."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import quote

HELP = "submit, list, show (--follow) or cancel parent orders through the control API"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlexec.cli.client import add_api_arguments

    add_api_arguments(parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    submit = sub.add_parser("submit", help="submit a parent: SIDE QTY SYMBOL HORIZON [ALGO] "
                            "[limit=P] [pov=F] [id=CLIENT_ID]")  # fmt: skip
    submit.add_argument("words", nargs="+", help="e.g. buy 3000 AAPL 10m twap id=abc")
    sub.add_parser("list", help="every parent, as a table")
    show = sub.add_parser("show", help="one parent: progress, fills, IS, child orders")
    show.add_argument("id")
    show.add_argument("--follow", action="store_true", help="redraw until it is finished")
    show.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    cancel = sub.add_parser("cancel", help="cancel a parent and its working child orders")
    cancel.add_argument("id")
    for action in sub.choices.values():
        add_api_arguments(action, again=True)


def run(args: argparse.Namespace) -> int:
    from rlexec.cli.client import (
        client_from_args,
        follow,
        parent_list,
        parent_summary,
        parent_table,
        parent_view,
        print_json,
    )
    from rlexec.market.errors import RlexecError
    from rlexec.service.config import parent_words

    client = client_from_args(args)
    if args.action == "submit":
        try:
            body = parent_words(" ".join(args.words))
        except ValueError as exc:
            raise RlexecError(str(exc)) from None
        parent = client.post("/v1/parents", body, shape=parent_view)
    elif args.action == "list":
        parents = client.get("/v1/parents", shape=parent_list)
        if args.json:
            print_json(parents)
        else:
            print(parent_table(parents))
        return 0
    elif args.action == "cancel":
        parent = client.post(f"/v1/parents/{quote(args.id, safe='')}/cancel", shape=parent_view)
    elif args.follow:
        parent = follow(client, quote(args.id, safe=""), sys.stdout, args.interval)
        if args.json:
            print_json(parent)
        return 0 if parent["state"] == "completed" else 1
    else:
        parent = client.get(f"/v1/parents/{quote(args.id, safe='')}", shape=parent_view)
    if args.json:
        print_json(parent)
    else:
        print(parent_summary(parent))
    return 0
