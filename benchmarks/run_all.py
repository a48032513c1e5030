"""Run every benchmark in this folder that exists so far (see benchmarks/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = ["overhead.py", "constrained_decoding.py", "table_linking.py", "spider.py"]

if __name__ == "__main__":
    failed = 0
    for script in BENCHMARKS:
        print(f"== {script}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script)]).returncode != 0
    sys.exit(1 if failed else 0)
