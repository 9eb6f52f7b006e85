"""Coverage-guided fuzzing of the FIX codec and framer (atheris / libFuzzer).

    .venv/bin/python tests/fuzz/fuzz_codec.py tests/fuzz/corpus/codec/seeds -runs=20000 -seed=1

Any libFuzzer flag works (-max_total_time=600 for a long run). A crash writes the input to
crash-<sha1>: move it to tests/fuzz/corpus/codec/crashes/ so tests/fuzz/test_corpus.py
replays it from then on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    import rlexec.gateway.codec
    import rlexec.gateway.message  # noqa: F401

from tests.fuzz.harness import check_codec


def main() -> None:
    atheris.Setup(sys.argv, check_codec)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
