"""Property-based fuzzing of specs (tests/spec_fuzz.py) in a subprocess whose address space is
capped, so a spec that blows up memory fails this test instead of the machine: every mutated
built-in spec is valid (and then builds and runs) or a SpecError, in bounded time and memory.
``SLMGRAPH_FUZZ_EXAMPLES`` sets the number of mutations (default 1000); the seed is fixed unless
``SLMGRAPH_FUZZ_RANDOM=1``."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from conftest import ROOT

#: The fuzzing process may map at most this much (a 9-level alias bomb once grew to 2 GB).
MEMORY_LIMIT = 3 * 1024**3


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.slow
def test_mutated_specs_are_valid_or_spec_errors_in_bounded_memory() -> None:
    pytest.importorskip("hypothesis")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         str(ROOT / "tests" / "spec_fuzz.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=900, preexec_fn=_limit,
        env={**os.environ, "SLMGRAPH_NO_AUTO_PULL": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout
