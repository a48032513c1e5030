"""Does llama.cpp with the GGUF LoRA generate what PEFT generates with the adapter it was
converted from? Greedy answers of both, with and without the adapter, on curated calls.

    .venv/bin/python benchmarks/adapter_parity.py --adapter benchmarks/runs/conversion/student

Rules out the conversion (``convert_lora_to_gguf.py``) and llama.cpp's quantised base as the
reason a fine-tuned student behaves as it does: if both sides write the same SQL, what the
student learned is what training taught. Needs the ``finetune`` extra and a finished
``benchmarks/conversion.py --stage finetune`` (its ``adapter/`` and ``adapter.gguf``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
STUDENT = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter", type=Path, required=True, help="a student folder (adapter/)")
    ap.add_argument("--calls", type=Path, default=HERE / "runs" / "conversion" / "curated.jsonl")
    ap.add_argument("--n", type=int, default=6, help="write_sql calls (first and last halves)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    peft_dir, gguf = args.adapter / "adapter", args.adapter / "adapter.gguf"
    for need in (peft_dir, gguf, args.calls):
        if not need.exists():
            sys.exit(f"{need} not found: run benchmarks/conversion.py's finetune stage first")

    import torch
    from llama_cpp import Llama
    from peft import PeftModel

    from slmgraph.models.catalog import resolve_model_path
    from slmgraph.pipeline.finetune import load_base

    calls = [json.loads(line) for line in args.calls.read_text().splitlines() if line.strip()]
    calls = [c for c in calls if c["node"] == "write_sql"]
    tail = args.n // 2  # from both ends of the log: the first databases and the last
    picked = calls[: args.n - tail] + (calls[-tail:] if tail else [])
    base_path = Path(resolve_model_path(STUDENT))
    torch.set_num_threads(args.threads)
    model, tok, _ = load_base(str(base_path))
    peft = PeftModel.from_pretrained(model, str(peft_dir)).eval()
    kw: dict[str, Any] = {"n_ctx": 4096, "n_threads": args.threads, "seed": 0, "verbose": False}
    llama = {
        False: Llama(str(base_path), **kw),
        True: Llama(str(base_path), lora_path=str(gguf), **kw),
    }

    def hf(messages: list[dict[str, str]], adapter: bool) -> str:
        ids = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
        with torch.no_grad(), contextlib.nullcontext() if adapter else peft.disable_adapter():
            out = peft.generate(input_ids=ids, max_new_tokens=120, do_sample=False)
        return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()

    def cpp(messages: list[dict[str, str]], adapter: bool) -> str:
        got = llama[adapter].create_chat_completion(messages, max_tokens=120, temperature=0.0)  # type: ignore[arg-type]
        return str(got["choices"][0]["message"]["content"]).strip()  # type: ignore[index]

    same = {False: 0, True: 0}
    same_ci = {False: 0, True: 0}
    for c in picked:
        messages = [{"role": m["role"], "content": m["content"]} for m in c["messages"]]
        print("-" * 78)
        print(f"{'teacher':16s}  {c['output']}")
        for adapter in (False, True):
            a, b = hf(messages, adapter), cpp(messages, adapter)
            same[adapter] += a == b
            same_ci[adapter] += a.lower() == b.lower()
            tag = "+LoRA" if adapter else "base"
            print(f"{'PEFT ' + tag:16s}  {a}")
            print(f"{'llama.cpp ' + tag:16s}{' =' if a == b else ' ≠'} {b}")
        sys.stdout.flush()
    n = len(picked)
    print("=" * 78)
    for adapter in (False, True):
        print(
            f"{'with' if adapter else 'without'} the adapter: identical {same[adapter]}/{n}, "
            f"identical but for case {same_ci[adapter]}/{n}"
        )


if __name__ == "__main__":
    main()
