"""S5 Fine-tune: LoRA on curated examples, distilling the teacher's outputs into a small model.

The base model is the GGUF the ``llamacpp`` tier already runs (transformers dequantises it; qwen2
and llama architectures), or a Hugging Face folder. Each example is the call's messages under the
model's own chat template followed by the teacher's output; the loss covers only the output
tokens. Training runs on the CPU (torch's CPU wheel, the ``finetune`` extra) or on CUDA when there
is one, in plain torch + PEFT so progress, checkpoints and resumption are ours:

- progress on stderr (step, loss, seconds per step, ETA);
- a checkpoint (adapter, optimizer, scheduler, step, RNG) every ``checkpoint_every`` optimizer
  steps, written to a temporary folder and renamed, so an interruption loses at most that much;
- a later run with the same settings resumes from it; different settings are refused unless
  ``restart`` is set (mixing two runs' optimizer states would be silent nonsense).

The result is ``out/adapter`` (PEFT) and, with ``gguf=True``, ``out/adapter.gguf``: the adapter
converted by llama.cpp's own ``convert_lora_to_gguf.py`` (from the llama-cpp-python source
distribution of the installed version), which a ``llamacpp`` tier loads beside its base GGUF with
``settings.lora_path``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from slmgraph.errors import SlmgraphError
from slmgraph.models.catalog import CatalogError, resolve_model_path
from slmgraph.pipeline.select import heldout

#: LoRA targets of llama-family attention and MLP projections (qwen2 and llama name them alike).
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class FinetuneConfig:
    base: str
    epochs: float = 2.0
    lr: float = 2e-4
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = DEFAULT_TARGETS
    max_length: int = 1024
    grad_accum: int = 4
    warmup: float = 0.05
    checkpoint_every: int = 25
    seed: int = 0
    max_steps: int | None = None
    #: False: the prompt runs once without gradients and only the output tokens backpropagate
    #: (the adapter still learns on every layer at the output positions, but not through the
    #: prompt's keys and values). About 2x faster on a CPU, where a long schema dominates;
    #: True is the exact gradient.
    prompt_grad: bool = True

    def fingerprint(self, examples: Sequence[dict[str, Any]]) -> str:
        """What must match for a checkpoint to be resumed: settings and the training data."""
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        for e in examples:
            h.update(json.dumps([e["messages"], e["output"]], sort_keys=True).encode())
        return h.hexdigest()[:16]


@dataclass
class FinetuneResult:
    out: Path
    adapter: Path
    gguf: Path | None
    n_examples: int
    n_skipped: dict[str, int]
    steps: int
    resumed_from: int
    seconds: float  # training time, summed over the sessions of a resumed run
    device: str
    losses: list[float] = field(default_factory=list)
    timed_steps: int = 0  # the steps ``seconds`` covers

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("out", "adapter", "gguf"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


def select_examples(
    examples: Sequence[dict[str, Any]],
    *,
    cluster: int | None = None,
    nodes: Sequence[str] | None = None,
    verified_only: bool = False,
    holdout: int = 0,
) -> list[dict[str, Any]]:
    """The examples to train on: one cluster (``slmgraph cluster`` output) and/or some nodes;
    ``verified_only`` keeps those marked ``"verified": true`` (e.g. SQL whose result matched).
    ``holdout``: leave out the calls ``slmgraph select`` scores candidates on (the same
    deterministic ``holdout`` per cluster, at most half of it), so a fine-tuned candidate is
    never scored on its own training data."""
    held: set[str] = set()
    if holdout > 0:
        by_cluster: dict[Any, list[dict[str, Any]]] = {}
        for e in examples:
            by_cluster.setdefault(e.get("cluster"), []).append(e)
        for group in by_cluster.values():
            held |= {_example_key(e) for e in heldout(group, min(holdout, len(group) // 2))}
    out = []
    for e in examples:
        if held and _example_key(e) in held:
            continue
        if cluster is not None and e.get("cluster") != cluster:
            continue
        if nodes and e.get("node") not in nodes:
            continue
        if verified_only and e.get("verified") is not True:
            continue
        if not e.get("messages") or e.get("output") in (None, ""):
            continue
        out.append(e)
    return out


@dataclass
class Balance:
    """What ``balance_examples`` did: the shares of each shape before and after, against the
    reference shares it aimed at, and how many examples there were before and after."""

    reference: dict[str, float]
    before: dict[str, float]
    after: dict[str, float]
    n_before: int
    n_after: int
    mode: str = "repeat"  # "repeat": rare shapes repeated; "drop": common shapes thinned

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def balance_examples(
    examples: Sequence[dict[str, Any]],
    reference: Sequence[dict[str, Any]],
    *,
    shape: Callable[[str], str],
    seed: int = 0,
    max_growth: float = 3.0,
    mode: Literal["repeat", "drop"] = "repeat",
) -> tuple[list[dict[str, Any]], Balance]:
    """Repeat examples of the shapes that filtering made rare, so their shares match the
    ``reference`` pool's (e.g. all the teacher's outputs, before ``verified_only``); with
    ``mode="drop"``, drop examples of the shapes filtering made common instead. ``shape``
    classifies an output (a domain registers one: ``registry.SHAPES["sql"]``, the query-writer's
    join / nested / group / plain).

    Keeping only verified outputs keeps the teacher's easy answers: on Spider train 24% of the
    1.5B's SQL joins tables, 15% of its execution-verified SQL does, and a student trained on the
    verified set learned to drop joins (``benchmarks/conversion-notes.md``). Nothing is dropped:
    the set grows to the smallest size at which every shape's reference share is at least what it
    already has, and each shape gets ``max(have, round(size * share))`` examples, the extra ones
    cycling through that shape's examples in a seeded order. It grows to at most ``max_growth``
    times the examples: beyond that every shape's gap is scaled down alike. Shapes the reference
    has but the examples lack cannot be made up; their share is spread over the others.

    ``drop`` keeps every example of the rarest shape (relative to its share) and a seeded sample
    of ``round(size * share)`` of each other shape, in their original order: no example is seen
    twice, at the cost of fewer examples. Measured on Spider (conversion-notes.md): repeating
    the 20 verified joins of a 200-question log did not bring back the joins the student drops;
    dropping to the 62 distinct joins of a 600-question log at their share did."""

    def shares(pool: Sequence[dict[str, Any]]) -> dict[str, float]:
        counts: dict[str, int] = {}
        for e in pool:
            s = shape(str(e.get("output") or ""))
            counts[s] = counts.get(s, 0) + 1
        n = sum(counts.values()) or 1
        return {s: round(c / n, 4) for s, c in sorted(counts.items())}

    groups: dict[str, list[dict[str, Any]]] = {}
    for e in examples:
        groups.setdefault(shape(str(e.get("output") or "")), []).append(e)
    ref = shares(reference)
    present = {s: ref.get(s, 0.0) for s in groups}
    norm = sum(present.values())
    n = len(examples)
    target = {s: share / norm for s, share in present.items()} if norm else {}
    rng = random.Random(seed)
    if mode == "drop":
        keep: set[int] = set()
        size = min((len(groups[s]) / target[s] for s in groups if target.get(s)), default=0.0)
        for s, group in sorted(groups.items()):
            # a shape the reference lacks (target 0) has nothing to match: it stays whole
            n_keep = min(len(group), round(size * target[s])) if target.get(s) else len(group)
            keep.update(id(e) for e in rng.sample(group, n_keep))
        out = [e for e in examples if id(e) in keep]
    else:
        extra = dict.fromkeys(groups, 0)
        if target:  # the smallest size at which no shape has more than its share, then the gaps
            size = max(n, *(len(g) / target[s] for s, g in groups.items() if target[s]))
            extra = {s: max(0, round(size * target[s]) - len(g)) for s, g in groups.items()}
            room, wanted = int(max_growth * n) - n, sum(extra.values())
            if wanted > room:  # too far off to match within max_growth: scale every gap alike
                extra = {s: e * room // wanted for s, e in extra.items()}
        out = list(examples)
        for s, group in sorted(groups.items()):
            cycle = list(group)
            rng.shuffle(cycle)
            out.extend(cycle[i % len(cycle)] for i in range(extra[s]))
    return out, Balance(
        reference=ref,
        before=shares(examples),
        after=shares(out),
        n_before=n,
        n_after=len(out),
        mode=mode,
    )


def _example_key(e: dict[str, Any]) -> str:
    return str(e.get("call_id") or json.dumps(e.get("messages"), sort_keys=True))


def load_base(base: str) -> tuple[Any, Any, Path]:
    """``(model, tokenizer, config_dir)`` for a catalog name, a GGUF file or an HF folder.
    ``config_dir`` holds the HF ``config.json`` llama.cpp's converter needs."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise SlmgraphError(
            "fine-tuning needs the 'finetune' extra (torch CPU wheel, transformers, peft): "
            "pip install -e '.[finetune]'"
        ) from exc
    path = Path(base).expanduser()
    if not path.exists():
        try:
            path = Path(resolve_model_path(base))
        except CatalogError as exc:
            raise SlmgraphError(
                f"base model {base!r}: not a file, folder or catalog model ({exc})"
            ) from None
    if path.is_file():
        kw: dict[str, Any] = {"gguf_file": path.name}
        where = str(path.parent)
    else:
        kw, where = {}, str(path)
    try:
        tok = AutoTokenizer.from_pretrained(where, **kw)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **kw)
    except (ValueError, OSError) as exc:
        raise SlmgraphError(f"cannot load {path} with transformers: {exc}") from None
    return model, tok, path


def encode(
    tokenizer: Any, example: dict[str, Any], max_length: int
) -> tuple[list[int], list[int]] | str:
    """``(input_ids, labels)`` with the prompt masked (-100), or why the example is skipped."""

    def ids(x: Any) -> list[int]:
        return list(x["input_ids"] if isinstance(x, dict) or hasattr(x, "keys") else x)

    messages = [{"role": m["role"], "content": m["content"]} for m in example["messages"]]
    prompt = ids(tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    full = ids(
        tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": str(example["output"])}]
        )
    )
    if full[: len(prompt)] != prompt:
        return "chat template: prompt is not a prefix of the full turn"
    if len(full) > max_length:
        return "longer than max_length"
    # Train up to and including the end-of-turn token; what the template adds after it
    # (a newline) is never generated. ChatML, Llama 3 and the tokenizer's own end of sequence.
    end = len(full)
    answer = full[len(prompt) :]
    unk = getattr(tokenizer, "unk_token_id", None)
    for name in ("<|im_end|>", "<|eot_id|>", "<|end|>", getattr(tokenizer, "eos_token", None)):
        tid = tokenizer.convert_tokens_to_ids(name) if name else None
        if isinstance(tid, int) and tid != unk and tid in answer:
            end = len(prompt) + answer.index(tid) + 1
            break
    full = full[:end]
    labels = [-100] * len(prompt) + full[len(prompt) :]
    return full, labels


def _progress(step: int, total: int, loss: float, per_step: float) -> None:
    eta = (total - step) * per_step
    print(
        f"\rfinetune: step {step}/{total}  loss {loss:.4f}  {per_step:.1f} s/step  "
        f"ETA {eta / 60:.0f} min   ",
        end="" if step < total else "\n",
        file=sys.stderr,
    )


def finetune(
    examples: Sequence[dict[str, Any]],
    out: str | Path,
    config: FinetuneConfig,
    *,
    restart: bool = False,
    gguf: bool = True,
    threads: int | None = None,
    progress: Callable[[int, int, float, float], None] | None = _progress,
) -> FinetuneResult:
    """Train a LoRA adapter on ``examples`` (dicts with ``messages`` and ``output``)."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    if not examples:
        raise SlmgraphError("no examples to train on (check --cluster/--node/--verified-only)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fp = config.fingerprint(examples)
    ckpt = out / "checkpoint"
    state_file = ckpt / "state.json"
    old = ckpt.with_name(ckpt.name + ".old")
    if not ckpt.exists() and (old / "state.json").exists():
        old.rename(ckpt)  # interrupted between the two renames of a checkpoint save
    if ckpt.exists():
        saved = json.loads(state_file.read_text()) if state_file.exists() else {}
        if saved.get("fingerprint") != fp:
            if not restart:
                raise SlmgraphError(
                    f"{ckpt} is from other settings or data; pass --restart to discard it, "
                    "or another --out"
                )
            shutil.rmtree(ckpt)
        elif restart:
            shutil.rmtree(ckpt)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    model, tok, base_path = load_base(config.base)
    data: list[tuple[list[int], list[int]]] = []
    skipped: dict[str, int] = {}
    for e in examples:
        enc = encode(tok, e, config.max_length)
        if isinstance(enc, str):
            skipped[enc] = skipped.get(enc, 0) + 1
        else:
            data.append(enc)
    if not data:
        raise SlmgraphError(f"every example was skipped: {skipped}")

    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=[t for t in config.targets],
    )
    model = get_peft_model(model, lora).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    per_epoch = math.ceil(len(data) / config.grad_accum)
    total = max(1, math.ceil(per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    warm = max(1, int(total * config.warmup))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    step, losses, earlier, untimed = 0, [], 0.0, 0
    if state_file.exists():
        saved = json.loads(state_file.read_text())
        set_peft_model_state_dict(model, load_file(ckpt / "adapter" / "adapter_model.safetensors"))
        trainer = torch.load(ckpt / "trainer.pt", weights_only=False)
        opt.load_state_dict(trainer["optimizer"])
        sched.load_state_dict(trainer["scheduler"])
        torch.set_rng_state(trainer["rng"])
        step, losses = int(saved["step"]), list(saved["losses"])
        earlier = float(saved.get("seconds", 0.0))  # training time of the sessions before
        untimed = 0 if "seconds" in saved else step  # a checkpoint that did not keep its time
    resumed_from = step

    orders: dict[int, list[int]] = {}

    def order(epoch: int) -> list[int]:
        if epoch not in orders:
            idx = list(range(len(data)))
            random.Random(config.seed + epoch).shuffle(idx)
            orders[epoch] = idx
        return orders[epoch]

    started = time.perf_counter()
    while step < total:
        batch = []
        for j in range(config.grad_accum):  # each sample in its own epoch's order
            epoch, within = divmod(step * config.grad_accum + j, len(data))
            batch.append(order(epoch)[within])
        t0 = time.perf_counter()
        total_loss = 0.0
        for i in batch:
            ids, labels = data[i]
            x = torch.tensor([ids], device=device)
            if config.prompt_grad:
                y = torch.tensor([labels], device=device)
                loss = model(input_ids=x, labels=y).loss / len(batch)
            else:
                loss = _output_only_loss(model, x, labels) / len(batch)
            loss.backward()
            total_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(round(total_loss, 5))
        if progress is not None:
            progress(step, total, total_loss, time.perf_counter() - t0)
        if step % config.checkpoint_every == 0 or step == total:
            elapsed = earlier + time.perf_counter() - started
            _save_checkpoint(model, opt, sched, ckpt, fp, step, losses, elapsed)
    seconds = earlier + time.perf_counter() - started

    adapter = out / "adapter"
    if adapter.exists():
        shutil.rmtree(adapter)
    model.save_pretrained(str(adapter))
    config_dir = out / "base-config"
    base_model: Any = model.base_model.model
    hf_config = base_model.config.to_dict()
    hf_config["architectures"] = [type(base_model).__name__]  # the converter picks by it
    hf_config.pop("quantization_config", None)  # the GGUF we loaded from, not a quantisation
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    gguf_path = export_gguf(adapter, config_dir, out / "adapter.gguf") if gguf else None
    result = FinetuneResult(
        out=out,
        adapter=adapter,
        gguf=gguf_path,
        n_examples=len(data),
        n_skipped=skipped,
        steps=step,
        resumed_from=resumed_from,
        seconds=round(seconds, 2),
        device=device,
        losses=losses,
        timed_steps=step - untimed,
    )
    (out / "finetune.json").write_text(
        json.dumps(
            {**result.as_dict(), "config": asdict(config), "base_path": str(base_path)}, indent=2
        )
        + "\n"
    )
    return result


def _output_only_loss(model: Any, x: Any, labels: list[int]) -> Any:
    """Cross-entropy of the output tokens, with the prompt's keys and values computed once
    without gradients (``prompt_grad=False``)."""
    import torch
    import torch.nn.functional as F

    start = next(i for i, v in enumerate(labels) if v != -100)  # first output token
    pre = start - 1  # the last prompt token predicts the first output token
    with torch.no_grad():
        past = model(input_ids=x[:, :pre], use_cache=True).past_key_values
    logits = model(input_ids=x[:, pre:], past_key_values=past, use_cache=False).logits
    return F.cross_entropy(logits[0, :-1].float(), x[0, pre + 1 :])


def _save_checkpoint(
    model: Any,
    opt: Any,
    sched: Any,
    ckpt: Path,
    fp: str,
    step: int,
    losses: list[float],
    seconds: float,
) -> None:
    import torch

    tmp = ckpt.with_name(ckpt.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp / "adapter"))
    torch.save(
        {
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": torch.get_rng_state(),
        },
        tmp / "trainer.pt",
    )
    (tmp / "state.json").write_text(
        json.dumps({"fingerprint": fp, "step": step, "losses": losses, "seconds": seconds}) + "\n"
    )
    old = ckpt.with_name(ckpt.name + ".old")
    if old.exists() and ckpt.exists():  # left by a save interrupted after its second rename
        shutil.rmtree(old)
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    if old.exists():
        shutil.rmtree(old)


def converter_dir(fetch: bool = True) -> Path | None:
    """llama.cpp's conversion scripts, from the source distribution of the installed
    llama-cpp-python (``$SLMGRAPH_LLAMA_CPP_SRC`` overrides; fetched once from the package
    registry into ``~/.cache/slmgraph/llama.cpp-src/<version>``, which ``make setup`` does).
    ``fetch=False``: None when not fetched yet."""
    env = os.environ.get("SLMGRAPH_LLAMA_CPP_SRC")
    if env:
        root = Path(env)
        if not (root / "convert_lora_to_gguf.py").exists():
            raise SlmgraphError(f"$SLMGRAPH_LLAMA_CPP_SRC={env} has no convert_lora_to_gguf.py")
        return root
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("llama_cpp_python")
    except PackageNotFoundError:
        raise SlmgraphError(
            "the GGUF export needs llama-cpp-python installed (its source has the converter); "
            "pass gguf=False / --no-gguf to keep only the PEFT adapter"
        ) from None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "slmgraph" / "llama.cpp-src" / ver
    if (root / "convert_lora_to_gguf.py").exists():
        return root
    if not fetch:
        return None
    tmp = root.with_name(root.name + ".download")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    print(f"fetching llama-cpp-python {ver} source for its GGUF converter…", file=sys.stderr)
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         "-d", str(tmp), f"llama-cpp-python=={ver}"],
        capture_output=True, text=True,
    )  # fmt: skip
    sdists = list(tmp.glob("llama_cpp_python-*.tar.gz"))
    if got.returncode != 0 or not sdists:
        raise SlmgraphError(
            f"could not fetch the llama-cpp-python {ver} source: {got.stderr[-500:]}"
        )
    keep = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")
    with tarfile.open(sdists[0]) as tar:
        members = []
        for m in tar.getmembers():
            parts = m.name.split("/vendor/llama.cpp/", 1)
            if len(parts) == 2 and parts[1].startswith(keep) and (m.isfile() or m.isdir()):
                m.name = parts[1]
                members.append(m)
        tar.extractall(tmp / "src", members=members, filter="data")
    shutil.rmtree(root, ignore_errors=True)
    (tmp / "src").rename(root)
    shutil.rmtree(tmp, ignore_errors=True)
    return root


def export_gguf(adapter: Path, config_dir: Path, out_file: Path) -> Path:
    """Convert a PEFT adapter to a GGUF LoRA with llama.cpp's converter."""
    root = converter_dir()
    assert root is not None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "gguf-py"), str(root)])}
    got = subprocess.run(
        [sys.executable, str(root / "convert_lora_to_gguf.py"), "--base", str(config_dir),
         "--outfile", str(out_file), "--outtype", "f32", str(adapter)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if got.returncode != 0 or not out_file.exists():
        raise SlmgraphError(f"convert_lora_to_gguf.py failed: {got.stderr[-1500:]}")
    return out_file


if __name__ == "__main__":  # `python -m slmgraph.pipeline.finetune --fetch-converter` (make setup)
    if sys.argv[1:] == ["--fetch-converter"]:
        print(converter_dir())
    else:
        sys.exit("usage: python -m slmgraph.pipeline.finetune --fetch-converter")
