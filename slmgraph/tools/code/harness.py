"""Test cases as data, run against generated code in the sandbox, reported as data.

A test case is ``{"call": "add(2, 3)", "expected": "5"}``: two Python expressions, which is
what a small model can write reliably under a JSON schema (a test *file* it cannot). The
harness imports the code as a module, evaluates each call in its namespace with a time limit of
its own (one hanging case costs that case, not the run), compares with ``==`` (floats with a
relative tolerance of 1e-6), and prints one JSON report line after a marker. The report's
shape::

    {"load_error": None | "Traceback ...", "total": 3, "passed": 2, "invalid": 0,
     "results": [{"call", "expected", "passed", "got" | "error"}, ...]}

A case whose call does not parse, or whose expected value does not evaluate, is the test's
fault: it is reported ``invalid`` and not counted in ``total``.
"""

from __future__ import annotations

import json
from typing import Any

from slmgraph.tools.code.sandbox import Limits, Outcome, Sandbox

MARKER = "@@slmgraph-report@@"

# Runs inside the sandbox: stdlib only, no slmgraph.
_HARNESS = r"""
import json, math, signal, sys, traceback

MARKER = "@@slmgraph-report@@"
PER_CASE_S = {per_case_s}

def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
        except TypeError:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return a == b

def alarm(signum, frame):
    raise TimeoutError(f"the call took more than {{PER_CASE_S}} s")

def short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."

report = {{"load_error": None, "total": 0, "passed": 0, "invalid": 0, "results": []}}
cases = json.load(open("cases.json"))
report["total"] = len(cases)
try:
    import solution
    namespace = dict(vars(solution))
except BaseException:
    report["load_error"] = traceback.format_exc(limit=4)[-1500:]
    namespace = None
if namespace is not None:
    signal.signal(signal.SIGALRM, alarm)
    for case in cases:
        row = {{"call": case["call"], "expected": case["expected"], "passed": False}}
        try:
            compile(case["call"], "<call>", "eval")
            expected = eval(case["expected"], dict(namespace))
        except BaseException as exc:
            row["error"] = f"the case is not valid Python: {{type(exc).__name__}}: {{exc}}"
            row["invalid"] = True  # the test's fault, not the code's: not counted
            report["total"] -= 1
            report["invalid"] += 1
            report["results"].append(row)
            continue
        signal.alarm(PER_CASE_S)
        try:
            got = eval(case["call"], dict(namespace))
            row["got"] = short(got)
            row["passed"] = bool(same(got, expected))
        except BaseException as exc:
            row["error"] = f"{{type(exc).__name__}}: {{str(exc)[:300]}}"
        finally:
            signal.alarm(0)
        report["passed"] += row["passed"]
        report["results"].append(row)
sys.stdout.flush()
print("\n" + MARKER + json.dumps(report))
"""


def run_cases(
    sandbox: Sandbox,
    code: str,
    cases: list[dict[str, str]],
    per_case_s: int = 3,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Run ``cases`` against ``code`` in ``sandbox``: the report (see the module docstring),
    with ``status`` (the sandbox's) and, where the report is missing, why."""
    outcome = sandbox.run(
        _HARNESS.format(per_case_s=max(1, per_case_s)),
        {"solution.py": code, "cases.json": json.dumps(cases)},
        limits,
    )
    return parse_report(outcome, len(cases))


def parse_report(outcome: Outcome, total: int) -> dict[str, Any]:
    _, found, tail = outcome.stdout.rpartition(MARKER)
    report: dict[str, Any] | None = None
    if found:
        try:
            report = json.loads(tail.strip().splitlines()[0])
        except (ValueError, IndexError):
            report = None
    if report is None:
        why = {
            "timeout": "the tests ran past the sandbox's wall-clock limit",
            "killed": f"the sandbox killed the run ({outcome.signal})",
        }.get(outcome.status, "the harness printed no report")
        tail_err = outcome.stderr.strip()[-1200:]
        report = {
            "load_error": f"{why}\n{tail_err}".strip(),
            "total": total,
            "passed": 0,
            "invalid": 0,
            "results": [],
        }
    report["status"] = outcome.status
    report["isolation"] = outcome.isolation
    report["all_passed"] = (
        report["load_error"] is None and report["total"] > 0 and report["passed"] == report["total"]
    )
    return report


def failures_text(report: dict[str, Any], limit: int = 6) -> str:
    """The failing part of a report, as a repair prompt shows it."""
    if report.get("load_error"):
        return "The code does not run:\n" + str(report["load_error"])
    lines = []
    for row in report.get("results") or []:
        if row.get("passed") or row.get("invalid"):
            continue
        seen = row.get("error") or f"got {row.get('got')}"
        lines.append(f"- {row['call']} should be {row['expected']}, {seen}")
        if len(lines) == limit:
            break
    return f"{report.get('passed', 0)} of {report.get('total', 0)} tests pass. Failing:\n" + (
        "\n".join(lines)
    )
