"""S5 Fine-tune on the tiny random-weight GGUF, end to end: transformers loads (dequantises) the
GGUF, LoRA learns a fixed answer, llama.cpp's own converter turns the adapter into a GGUF LoRA,
and llama.cpp with base + adapter gives the learned answer where the base alone gives noise.
Also: the prompt is masked out of the loss, a run interrupted after a checkpoint resumes from
it, and a checkpoint from other settings is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import needs_llama
from slmgraph.errors import SlmgraphError

pytest.importorskip("torch", reason="the 'finetune' extra (torch, transformers, peft) is absent")
pytest.importorskip("peft", reason="the 'finetune' extra (torch, transformers, peft) is absent")

from slmgraph.pipeline.finetune import (
    FinetuneConfig,
    converter_dir,
    encode,
    finetune,
    load_base,
    select_examples,
)

SYSTEM = "Answer with the colour."
QUESTIONS = ["item 100", "item 7b", "thing", "x"]  # held out: not in the training examples


def examples(n: int = 16, answer: str = "red") -> list[dict[str, Any]]:
    return [
        {
            "node": "paint",
            "cluster": 0,
            "verified": True,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"item {i}"},
            ],
            "output": answer,
        }
        for i in range(n)
    ]


def config(base: Path, **kw: Any) -> FinetuneConfig:
    settings: dict[str, Any] = {
        "epochs": 4,
        "lr": 5e-3,
        "rank": 8,
        "alpha": 16,
        "grad_accum": 2,
        "checkpoint_every": 4,
        **kw,
    }
    return FinetuneConfig(base=str(base), **settings)


def test_encode_masks_the_prompt(tiny_gguf: Path) -> None:
    _, tok, _ = load_base(str(tiny_gguf))
    ids, labels = encode(tok, examples(1)[0], 1024)  # type: ignore[misc]
    n_prompt = sum(1 for v in labels if v == -100)
    assert 0 < n_prompt < len(ids)
    answer = tok.decode(ids[n_prompt:])
    assert answer == "red<|im_end|>"  # the output and its end of turn, nothing after
    assert encode(tok, examples(1)[0], 10) == "longer than max_length"


def test_output_only_loss_is_the_same_loss(tiny_gguf: Path) -> None:
    """The CPU-friendly mode changes which gradients flow, not the loss it reports."""
    import torch

    from slmgraph.pipeline.finetune import _output_only_loss

    model, tok, _ = load_base(str(tiny_gguf))
    model.eval()
    ids, labels = encode(tok, examples(1)[0], 1024)  # type: ignore[misc]
    x = torch.tensor([ids])
    with torch.no_grad():
        exact = model(input_ids=x, labels=torch.tensor([labels])).loss
        fast = _output_only_loss(model, x, labels)
    assert abs(float(exact) - float(fast)) < 1e-4


def test_select_examples() -> None:
    ex = examples(4)
    ex[1]["verified"] = False
    ex[2]["cluster"] = 1
    ex[3]["node"] = "other"
    assert len(select_examples(ex, verified_only=True)) == 3
    assert len(select_examples(ex, cluster=0, nodes=["paint"])) == 2
    # holdout: the calls select scores a cluster on are never trained on
    from slmgraph.pipeline.select import heldout

    many = [{**e, "call_id": f"c{i}"} for i, e in enumerate(examples(30))]
    kept = select_examples(many, holdout=10)
    assert len(kept) == 20
    assert not {e["call_id"] for e in heldout(many, 10)} & {e["call_id"] for e in kept}


@needs_llama
def test_finetune_exports_a_gguf_lora_llamacpp_answers_with(
    tiny_gguf: Path, tmp_path: Path
) -> None:
    if converter_dir(fetch=False) is None:
        pytest.skip("llama.cpp's converter is not fetched yet (make setup fetches it)")
    from llama_cpp import Llama

    # the CPU-friendly mode (prompt without gradients) must learn too
    cfg = config(tiny_gguf, prompt_grad=False)
    result = finetune(examples(), tmp_path / "ft", cfg, threads=1, progress=None)
    assert result.steps == 32 and result.resumed_from == 0 and result.device == "cpu"
    assert result.losses[-1] < result.losses[0] / 20
    assert result.gguf is not None and result.gguf.stat().st_size > 0
    meta = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert meta["n_examples"] == 16 and meta["config"]["rank"] == 8
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "item 99"}]

    def answer(lora: Path | None) -> str:
        llm = Llama(
            str(tiny_gguf), lora_path=str(lora) if lora else None, n_ctx=256, n_threads=1,
            seed=0, verbose=False,
        )  # fmt: skip
        out = llm.create_chat_completion(messages, temperature=0, max_tokens=8)  # type: ignore[arg-type]
        return str(out["choices"][0]["message"]["content"])  # type: ignore[index]

    assert answer(None) != "red"
    assert answer(result.gguf) == "red"

    # S4 on the student: the base with the adapter agrees with the teacher on held-out calls,
    # the base alone does not, and the recommendation names the adapter.
    from slmgraph.pipeline.select import llamacpp_runner, select

    heldout = [
        {**e, "call_id": f"h{i}", "messages": [e["messages"][0], {"role": "user", "content": q}]}
        for i, (e, q) in enumerate(zip(examples(4), QUESTIONS, strict=True))
    ]  # fmt: skip
    student = f"{tiny_gguf}+{result.gguf}"
    (choice,) = select(
        heldout, [str(tiny_gguf), student], runner=llamacpp_runner(n_ctx=256, threads=1),
        progress=False,
    )  # fmt: skip
    base_score, student_score = choice.scores
    assert student_score.agreement == 1.0 and base_score.agreement < 1.0
    assert choice.recommendation == f"use {student} (agreement 100%)"


def test_an_interrupted_run_resumes_from_its_checkpoint(tiny_gguf: Path, tmp_path: Path) -> None:
    out = tmp_path / "ft"

    def stop_at_6(step: int, total: int, loss: float, per_step: float) -> None:
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(examples(), out, config(tiny_gguf), gguf=False, progress=stop_at_6)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["step"] == 4  # the last checkpoint before the interruption
    assert state["seconds"] > 0
    # training time adds up across sessions (pretend the first one trained for 1000 s)
    (out / "checkpoint" / "state.json").write_text(json.dumps({**state, "seconds": 1000.0}))
    result = finetune(examples(), out, config(tiny_gguf), gguf=False, progress=None)
    assert result.resumed_from == 4 and result.steps == 32 and len(result.losses) == 32
    assert result.seconds > 1000 and result.timed_steps == 32
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    # other settings on the same folder: refused, unless asked to start over
    with pytest.raises(SlmgraphError, match="other settings or data; pass --restart"):
        finetune(examples(), out, config(tiny_gguf, lr=1e-3), gguf=False, progress=None)
    again = finetune(
        examples(), out, config(tiny_gguf, lr=1e-3, max_steps=2), gguf=False, restart=True,
        progress=None,
    )  # fmt: skip
    assert again.resumed_from == 0 and again.steps == 2


def test_cli_finetune_and_clear_errors(tiny_gguf: Path, tmp_path: Path) -> None:
    src = tmp_path / "ex.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in examples(4)))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slmgraph", "finetune", str(src), *args],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    ok = cli("--base", str(tiny_gguf), "--out", str(tmp_path / "o"), "--max-steps", "2",
             "--no-gguf", "--threads", "1", "--holdout", "0")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "2 steps on 4 examples" in ok.stdout and "finetune: step 2/2" in ok.stderr
    none = cli("--base", str(tiny_gguf), "--out", str(tmp_path / "p"), "--cluster", "7")
    assert none.returncode == 1 and "no examples to train on" in none.stderr
    bad = cli("--base", "no-such-model", "--out", str(tmp_path / "q"))
    assert bad.returncode == 1 and "base model 'no-such-model'" in bad.stderr
