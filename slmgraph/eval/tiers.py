"""What every benchmark's systems share: the tiers they run on, and a fingerprint naming what a
system would answer (so that a change of prompt, spec or decoding starts a fresh run)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from slmgraph import yamlfile
from slmgraph.errors import SlmgraphError
from slmgraph.loader import TIERS_ENV
from slmgraph.spec import default_tiers

PACKAGE = Path(__file__).resolve().parent.parent


def bench_tiers(n_threads: int | None) -> dict[str, Any]:
    """The benchmark's tiers: the default ones with a 4k context (and a thread count);
    ``$SLMGRAPH_TIERS`` wins."""
    if os.environ.get(TIERS_ENV):
        path = Path(os.environ[TIERS_ENV])
        data = yamlfile.parse_bytes(path.read_bytes(), str(path)).data
        if not isinstance(data, dict):
            raise SlmgraphError(f"${TIERS_ENV} ({path}) is not a YAML mapping of tiers")
        return dict(data.get("tiers", data))
    tiers = default_tiers()
    for t in tiers.values():
        t["settings"] = {"n_ctx": 4096, **({"n_threads": n_threads} if n_threads else {})}
    return tiers


def code_fingerprint(name: str, config: Any, parts: Iterable[str]) -> str:
    """12 hex digits over a system's name, its configuration and the source files (``.py``,
    ``.yaml``) under ``parts`` (paths inside the package)."""
    h = hashlib.sha256(name.encode())
    h.update(repr(config).encode())
    for part in parts:
        root = PACKAGE / part
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file() and f.suffix in (".py", ".yaml"):
                h.update(f.relative_to(PACKAGE).as_posix().encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]
