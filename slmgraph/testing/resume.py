"""The kill-and-resume trial of durable runs, shared by its test and its benchmark: run
``slmgraph run --thread T`` as a user would (a subprocess), ``kill -9`` it at a chosen model
call, run the same command again, and count what the call log holds against an uninterrupted
run: rows lost, rows duplicated, the answer, calls replayed.

The models are an OpenAI-compatible server on loopback (:class:`ModelServer`; the real
``openai_compat`` backend over real HTTP) that answers each prompt with a digest of it and can
hold one request while the client is killed, so that each kill lands where it is meant to:
inside a node between its two calls (the first, already logged, must be replayed and not made
again) or between nodes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from slmgraph.telemetry.calllog import CallLog

__all__ = ["CALLS", "INSIDE_A_NODE", "SPEC", "ModelServer", "kill_and_resume"]

#: Three nodes; ``first`` and ``third`` run on ``slm``, which answers empty (an invalid output,
#: logged as an error) and falls back to ``llm``. Five calls in this order: slm, llm (first),
#: llm (second), slm, llm (third).
SPEC = """
name: durable
state: {question: str, a: str, b: str, c: str}
output: [c]
tiers:
  slm:
    backend: openai_compat
    model: blank
    settings: {base_url: "URL", server: vllm}
    fallback: llm
  llm:
    backend: openai_compat
    model: echo
    settings: {base_url: "URL", server: vllm}
nodes:
  first: {agent: prompt, tier: slm, params: {user: "one {question}", output: a}}
  second: {agent: prompt, tier: llm, params: {user: "two {a}", output: b}}
  third: {agent: prompt, tier: slm, params: {user: "three {b}", output: c}}
edges:
  - {from: START, to: first}
  - {from: first, to: second}
  - {from: second, to: third}
  - {from: third, to: END}
"""
CALLS = 5
#: Kills at these calls land inside a node, after its first call was logged.
INSIDE_A_NODE = (2, 5)


class ModelServer:
    """Chat completions on loopback: model ``blank`` answers "", any other a digest of the
    prompt. With ``hold_at = k`` the k-th request is held (``held`` is set) and never answered.
    """

    def __init__(self) -> None:
        self.count = 0
        self.hold_at = 0
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.count += 1
                    hold = server.count == server.hold_at
                if hold:
                    server.held.set()
                    server._release.wait(60)
                    return
                prompt = body["messages"][-1]["content"]
                text = "" if body["model"] == "blank" else _digest(prompt)
                out = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        return Handler


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def command(spec: Path, log: str, checkpoints: str, thread: str) -> list[str]:
    """``slmgraph run`` of the trial spec on one thread, with its log and checkpoints."""
    return [
        sys.executable, "-m", "slmgraph", "run", str(spec), "--json",
        "--input", '{"question": "how many?"}', "--call-log", log,
        "--checkpoints", checkpoints, "--thread", thread,
    ]  # fmt: skip


def finish(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` to the end; its JSON result (an assertion error with stderr if it failed)."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0 or "Traceback" in out.stderr:
        raise AssertionError(f"exit {out.returncode}: {out.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def kill_at(cmd: list[str], server: ModelServer, call: int) -> float:
    """Start ``cmd`` and ``kill -9`` it while the server holds its ``call``-th request; the
    seconds from start to kill."""
    server.held.clear()
    server.hold_at = server.count + call
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not server.held.wait(120):
            raise AssertionError(f"the run never reached call {call} to be killed at")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        server.hold_at = 0
    return time.perf_counter() - started


def rows(log: str, thread: str) -> list[dict[str, Any]]:
    """The call-log rows of one thread, in order (SQLite file or PostgreSQL URL)."""
    calls = CallLog(log)
    try:
        return calls.rows("session_id = ?", (thread,))
    finally:
        calls.close()


def _shape(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["node"], r["tier"], r["status"], r["output"]) for r in found]


def kill_and_resume(
    workdir: Path, log: str, checkpoints: str, kills: tuple[int, ...] = (2, 3, 5)
) -> dict[str, Any]:
    """One uninterrupted run, then per kill point: kill -9 at that call, the same command
    again, and once more (a finished thread). Figures per kill (see the keys)."""
    with ModelServer() as server:
        spec = workdir / "durable.yaml"
        spec.write_text(SPEC.replace("URL", server.url))
        tag = os.urandom(3).hex()  # threads of this trial only, in a log that may be shared
        baseline = finish(command(spec, log, checkpoints, f"uninterrupted-{tag}"))
        reference = _shape(rows(log, f"uninterrupted-{tag}"))
        trials = []
        for call in kills:
            thread = f"killed-at-{call}-{tag}"
            cmd = command(spec, log, checkpoints, thread)
            killed_after = kill_at(cmd, server, call)
            before = len(rows(log, thread))
            started = time.perf_counter()
            resumed = finish(cmd)
            resume_s = time.perf_counter() - started
            found = rows(log, thread)
            shape = _shape(found)
            served = server.count
            again = finish(cmd)
            trials.append(
                {
                    "kill_at_call": call,
                    "inside_a_node": call in INSIDE_A_NODE,
                    "killed_after_s": round(killed_after, 2),
                    "rows_at_kill": before,
                    "rows": len(found),
                    "expected_rows": len(reference),
                    "lost": sum(1 for r in reference if r not in shape),
                    "duplicated": len(found) - len({r["replay_key"] for r in found}),
                    "same_rows": shape == reference,
                    "same_answer": resumed["output"] == baseline["output"],
                    "one_run_id": len({r["run_id"] for r in found}) == 1,
                    "resumed": resumed.get("resumed"),
                    "replayed_calls": resumed.get("replayed_calls", 0),
                    "resume_s": round(resume_s, 2),
                    "again": again.get("resumed"),
                    "again_same_answer": again["output"] == baseline["output"],
                    "again_model_calls": server.count - served,
                    "again_new_rows": len(rows(log, thread)) - len(found),
                }
            )
    return {
        "calls_per_run": CALLS,
        "baseline_rows": len(reference),
        "baseline_status": baseline["status"],
        "trials": trials,
    }
