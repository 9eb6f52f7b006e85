"""`make model` with the evaluation's tasks on Ray: `python -m rlexec.scale.ship [--ray ADDRESS]
[ship's own arguments]`. Ray belongs to this package, not to `models`; the results are
`models.ship`'s, episode for episode."""

from __future__ import annotations

import argparse
import sys

from rlexec.models import ship
from rlexec.scale.executor import RayExecutor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, add_help=False)
    parser.add_argument(
        "--ray", default="local", metavar="ADDRESS",
        help="'local' (default: a Ray started here, on every core), 'auto', host:port or "
        "ray://host:10001",
    )  # fmt: skip
    args, rest = parser.parse_known_args(argv)
    where = (
        "on a local Ray, every core" if args.ray == "local" else f"on the Ray cluster {args.ray}"
    )
    with RayExecutor(args.ray) as executor:
        return ship.main(rest, executor=executor, where=where)


if __name__ == "__main__":
    sys.exit(main())
