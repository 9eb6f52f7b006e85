"""A short, bounded, deterministic run of each atheris harness (`make test`); `make fuzz`
runs them for minutes. A crash fails the test and names the input file libFuzzer wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNS = {"codec": 20_000, "session": 1_500}


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(RUNS))
def test_a_short_fuzz_run_finds_no_crash(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    work = tmp_path / "corpus"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(HERE / f"fuzz_{target}.py"), str(work), str(HERE / "corpus" / target / "seeds"),
         f"-runs={RUNS[target]}", "-seed=1", f"-artifact_prefix={tmp_path}/", "-max_len=4096"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-"))]
    for name in crashes:
        shutil.copy(tmp_path / name, HERE / "corpus" / target / "crashes" / f"new-{name}")
    assert result.returncode == 0 and not crashes, (crashes, result.stderr[-3000:])
    assert f"Done {RUNS[target]} runs" in result.stderr
