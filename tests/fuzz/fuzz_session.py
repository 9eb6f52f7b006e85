"""Coverage-guided fuzzing of the session's receive path (atheris / libFuzzer): fuzzed bytes
from a counterparty, after a valid Logon or instead of one, cut into reads of fuzzed sizes,
into an acceptor `FixSession` on a real socket pair.

    .venv/bin/python tests/fuzz/fuzz_session.py tests/fuzz/corpus/session/seeds -runs=3000 -seed=1

A crash writes the input to crash-<sha1>: move it to tests/fuzz/corpus/session/crashes/ so
tests/fuzz/test_corpus.py replays it from then on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    import rlexec.gateway.codec
    import rlexec.gateway.connection
    import rlexec.gateway.message
    import rlexec.gateway.session
    import rlexec.gateway.validation  # noqa: F401

from tests.fuzz.harness import check_session


def main() -> None:
    atheris.Setup(sys.argv, check_session)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
