"""Tiers: known backends, their settings, their model files, fallback chains."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from slmgraph._suggest import did_you_mean
from slmgraph.errors import SpecIssue
from slmgraph.models.base import BACKENDS, settings_model
from slmgraph.models.catalog import CATALOG
from slmgraph.registry import declared
from slmgraph.spec import GraphSpec
from slmgraph.validate.params import params_issues


def check_tiers(spec: GraphSpec) -> Iterator[SpecIssue]:
    for name, tier in spec.tiers.items():
        path = f"tiers.{name}"
        if tier.backend not in BACKENDS:
            yield SpecIssue(
                f"{path}.backend",
                f"Unknown backend {tier.backend!r}",
                did_you_mean(tier.backend, BACKENDS, "backends"),
            )
        else:
            settings = params_issues(
                settings_model(tier.backend), tier.settings, f"{path}.settings"
            )
            yield from settings
            if tier.backend in ("llamacpp", "outlines"):
                yield from _check_model_ref(tier.model, f"{path}.model", spec.base_dir)
                lora = tier.settings.get("lora_path") if not settings else None
                if isinstance(lora, str):
                    yield from _check_file(lora, f"{path}.settings.lora_path", spec.base_dir)
            elif tier.backend == "openai_compat" and not tier.model:
                yield SpecIssue(
                    f"{path}.model",
                    "An openai_compat tier needs the served model's name",
                    "Set `model:` to the name the server lists at /v1/models.",
                )
            elif tier.backend == "langchain" and not settings:
                ref = str(tier.settings.get("chat_model", ""))
                module = ref.partition(":")[0]
                if ":" not in ref or not module:
                    yield SpecIssue(
                        f"{path}.settings.chat_model",
                        f"{ref!r} is not of the form 'package.module:ChatModelClass'",
                    )
                elif not declared(module, spec.imports):
                    yield SpecIssue(
                        f"{path}.settings.chat_model",
                        f"The chat model {ref!r} imports module {module!r}, which the spec "
                        "does not declare",
                        f"Add `imports: [{module}]` at the top of the spec (or of the "
                        "$SLMGRAPH_TIERS file).",
                    )
        if tier.fallback is not None and tier.fallback not in spec.tiers:
            yield SpecIssue(
                f"{path}.fallback",
                f"Unknown tier {tier.fallback!r}",
                did_you_mean(tier.fallback, [t for t in spec.tiers if t != name], "tiers"),
            )
    # Fallback cycles (slm -> llm -> slm) would retry forever.
    for name in spec.tiers:
        seen = [name]
        nxt = spec.tiers[name].fallback
        while nxt is not None and nxt in spec.tiers:
            if nxt in seen:
                yield SpecIssue(
                    f"tiers.{name}.fallback",
                    "Fallback cycle " + " -> ".join([*seen, nxt]),
                    "Remove one `fallback:` so the chain ends.",
                )
                break
            seen.append(nxt)
            nxt = spec.tiers[nxt].fallback
    if spec.defaults.tier is not None and spec.defaults.tier not in spec.tiers:
        yield SpecIssue(
            "defaults.tier",
            f"Unknown tier {spec.defaults.tier!r}",
            did_you_mean(spec.defaults.tier, spec.tiers, "tiers"),
        )


def _check_model_ref(model: str | None, path: str, base: Path | None) -> Iterator[SpecIssue]:
    if not model:
        yield SpecIssue(
            path, "A local tier needs a model", did_you_mean("", CATALOG, "catalog models")
        )
        return
    if model in CATALOG:
        return
    looks_like_path = model.endswith(".gguf") or "/" in model or model.startswith(".")
    if not looks_like_path:
        yield SpecIssue(
            path,
            f"Unknown model {model!r} (neither a catalog name nor a file path)",
            did_you_mean(model, CATALOG, "catalog models"),
        )
        return
    yield from _check_file(model, path, base)


def _check_file(name: str, path: str, base: Path | None) -> Iterator[SpecIssue]:
    try:
        candidate = Path(name).expanduser()
    except RuntimeError:  # ~nosuchuser
        candidate = Path(name)
    candidates = [candidate]
    if not candidate.is_absolute() and base is not None:
        candidates.insert(0, base / candidate)
    try:
        found = [c for c in candidates if c.exists()]
    except (OSError, ValueError):  # e.g. a NUL byte or a name too long for the file system
        found = []
    if not found:
        yield SpecIssue(
            path,
            f"File {name!r} not found",
            "Give an existing path (relative paths are the spec's folder's), or a catalog "
            "name (`slmgraph models list`).",
        )
    elif not found[0].is_file():  # exists() held, so the name is one the file system takes
        yield SpecIssue(path, f"{name!r} is a folder, not a file")
