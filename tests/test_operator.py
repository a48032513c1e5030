"""The operator in a real headless Chromium on real MiniWoB++ pages: scripted tiers (a policy
that reads the prompt like a model would) drive the real graph to the page's own reward on
several tasks; the action grammar admits only the page's refs; a page that ignores the
actions leads to reflection and a bounded end; skills learned in one episode run the next;
the browser reaches no host."""

from __future__ import annotations

import http.server
import itertools
import json
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from slmgraph import load_spec, run
from slmgraph.constraints.base import Constraint
from slmgraph.errors import RunError
from slmgraph.models.base import Message
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.telemetry.context import current_node
from slmgraph.tools.browser import chromium
from slmgraph.tools.browser.actions import Action, grammar, parse
from slmgraph.tools.browser.miniwob import MiniWoB
from slmgraph.tools.browser.page import Element, Page
from slmgraph.tools.browser.skills import SkillStore, learn, resolve

pytestmark = pytest.mark.skipif(
    chromium.available() is not None, reason=f"no headless browser: {chromium.available()}"
)


@pytest.fixture(scope="module")
def env() -> Iterator[MiniWoB]:
    with MiniWoB(wait_ms=50) as e:
        yield e


ELEMENT = re.compile(r'\[(\d+)\] (\S+)(?: #(\S+))?(?: "([^"]*)")?')


def _elements(prompt: str) -> list[tuple[int, str, str, str]]:
    return [(int(m[1]), m[2], m[3] or "", m[4] or "") for m in ELEMENT.finditer(prompt)]


def _plan(prompt: str, done: int) -> str:
    """The next action for the tasks the tests use, from the prompt alone."""
    goal = re.search(r"Instruction: (.*)", prompt)
    assert goal
    g = goal.group(1)
    els = _elements(prompt.split("Elements", 1)[1])
    quoted = re.findall(r'"([^"]+)"', g)

    def first(tag: str, id_: str | None = None) -> int:
        return next(r for r, t, i, _ in els if t == tag and (id_ is None or i == id_))

    button = first("button")
    if g.startswith("Click the button"):
        steps = [f"click({button})"]
    elif g.startswith("Enter ") and "text field" in g and "username" not in g:
        steps = [f'type({first("input_text")}, "{quoted[0]}")', f"click({button})"]
    elif "username" in g:
        steps = [f'type({first("input_text", "username")}, "{quoted[0]}")',
                 f'type({first("input_password", "password")}, "{quoted[1]}")',
                 f"click({button})"]  # fmt: skip
    elif g.startswith("Select ") and "list" in g:
        steps = [f'select({first("select")}, "{g.split()[1]}")', f"click({button})"]
    else:
        steps = ["done()"]
    return steps[min(done, len(steps) - 1)]


def policy(messages: Sequence[Message], constraint: Constraint | None) -> str:
    """A scripted model for every module: it reads only what the prompt shows."""
    prompt = messages[-1]["content"]
    node = current_node.get()
    if node == "information_gathering":
        return json.dumps({"relevant": [], "values": re.findall(r'"([^"]+)"', prompt)[:4]})
    if node == "self_reflection":
        return json.dumps({"success": "refused" not in prompt, "reason": "judged by the page"})
    if node == "task_inference":  # a plan longer than any task here: written once
        if constraint is not None and constraint.regex:  # a plan of actions: every step
            return "\n".join(dict.fromkeys(_plan(prompt, i) for i in range(3)))
        return json.dumps({"plan": ["follow the instruction", "go on", "go on", "finish"]})
    if node == "skill_curation":
        assert constraint is not None and constraint.choices
        return constraint.choices[1]  # the first skill offered
    assert constraint is not None and constraint.regex
    history = prompt.split("Actions so far:", 1)[1]
    done = len(re.findall(r"^- ", history, re.M))
    return _plan(prompt, done)


def _backends(responder: Any = policy) -> dict[str, ScriptedBackend]:
    return {"slm": ScriptedBackend(responder=responder, model="scripted-slm"),
            "llm": ScriptedBackend(responder=responder, model="scripted-llm")}  # fmt: skip


def _spec(tmp_path: Path, plan_as: str = "words", **observe: Any) -> Any:
    """The operator graph with its screenshots under ``tmp_path``; the plan in words by
    default (so that action planning grounds each step on ``slm``), or as actions."""
    data = load_spec("operator").model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    data["nodes"]["observe"]["params"] = {"screenshots": str(tmp_path / "screens"), **observe}
    data["nodes"]["task_inference"]["params"]["plan_as"] = plan_as
    return load_spec(data)


@pytest.mark.parametrize("plan_as", ["words", "actions"])
@pytest.mark.parametrize("task", ["click-test", "enter-text", "login-user", "choose-list"])
def test_scripted_modules_solve_real_tasks(
    task: str, plan_as: str, env: MiniWoB, tmp_path: Path
) -> None:
    store = SkillStore()
    r = run(_spec(tmp_path, plan_as), {"task": task, "seed": 7}, backends=_backends(),
            call_log=False, resources={"browser": env, "skills": store})  # fmt: skip
    assert r.error is None, r.error
    assert r.output["outcome"] == "success" and r.output["reward"] == 1.0
    modules = {(t["node"], t["tier"]) for t in r.trace if t["model"]}
    assert ("task_inference", "llm") in modules
    # A plan of actions is taken as written; a plan in words is grounded on slm.
    assert (("action_planning", "slm") in modules) == (plan_as == "words")
    inferred = [t for t in r.trace if t["node"] == "task_inference" and t["model"]]
    assert len(inferred) == 1, "no step failed: the plan is written once, not every step"
    shots = [t["screenshot"] for t in r.trace if t["node"] == "observe"]
    assert shots and all(s and Path(s).stat().st_size > 0 for s in shots)  # one per step
    assert store.all(), "a success is stored as a skill"


def _as_step(action: str) -> str:
    """An action as the plan prompt writes a step (``type "ann" into [3]``)."""
    a = parse(action)
    if a.op == "click":
        return f"click [{a.ref}]"
    verb, into = ("type", "into") if a.op == "type" else ("choose", "in")
    return f"{verb} {json.dumps(a.text)} {into} [{a.ref}]"


@pytest.mark.parametrize("task", ["login-user", "choose-list"])
def test_a_plan_of_exact_steps_is_followed_with_no_planner_call(
    task: str, env: MiniWoB, tmp_path: Path
) -> None:
    def planner(messages: Sequence[Message], constraint: Constraint | None) -> str:
        node = current_node.get()
        if node == "task_inference":  # the whole plan, in the words prompt's own forms
            prompt = messages[-1]["content"]
            steps = list(dict.fromkeys(_plan(prompt, i) for i in range(3)))
            return json.dumps({"plan": [_as_step(a) for a in steps]})
        assert node != "action_planning", "an exact step needs no model"
        return policy(messages, constraint)

    r = run(_spec(tmp_path), {"task": task, "seed": 2}, backends=_backends(planner),
            call_log=False, resources={"browser": env, "skills": SkillStore()})  # fmt: skip
    assert r.error is None and r.output["outcome"] == "success", r.output
    assert sum(t["node"] == "task_inference" and bool(t["model"]) for t in r.trace) == 1


def test_a_learned_skill_runs_the_next_episode(env: MiniWoB, tmp_path: Path) -> None:
    store = SkillStore(tmp_path / "skills.sqlite")
    spec = _spec(tmp_path)
    first = run(spec, {"task": "login-user", "seed": 1}, backends=_backends(), call_log=False,
                resources={"browser": env, "skills": store})  # fmt: skip
    assert first.output["outcome"] == "success"
    (skill,) = store.all()
    assert "{0}" in skill.template and "{1}" in skill.template  # username and password slots
    again = SkillStore(tmp_path / "skills.sqlite")  # across runs: the file keeps it
    second = run(spec, {"task": "login-user", "seed": 2}, backends=_backends(), call_log=False,
                 resources={"browser": env, "skills": again})  # fmt: skip
    assert second.output["outcome"] == "success", second.state.get("memory")
    assert second.state["skill_used"] == skill.name
    assert second.state["memory"][0]["action"] == f'skill("{skill.name}")'
    assert again.get(skill.name).successes == 2  # type: ignore[union-attr]
    # Curation's choice is the episode's action: no plan is written, no planner is asked.
    called = [t["node"] for t in second.trace if t["model"]]
    assert "task_inference" not in called and "action_planning" not in called, called
    assert called.count("skill_curation") == 1


def test_a_skill_types_a_value_in_the_case_the_instruction_asks() -> None:
    goal = 'Type "JERALD" in all lower case letters in the text input and press Submit.'
    field = Element(ref=5, tag="input_text", id="tt")
    skill = learn("enter-text-2", goal, [(Action("type", 5, "jerald"), field)])
    assert skill is not None and skill.template.startswith('Type "{0}" in all lower case')
    other = 'Type "ANN" in all lower case letters in the text input and press Submit.'
    values = skill.bind(other)
    assert values == ["ANN"]
    page = Page(other, [Element(ref=9, tag="input_text", id="tt")])
    assert resolve(skill.steps[0], values, page) == Action("type", 9, "ann")


def test_a_skill_that_failed_as_often_as_it_worked_is_not_offered(tmp_path: Path) -> None:
    store = SkillStore(tmp_path / "skills.sqlite")
    skill = learn("click-test", "Click the button.",
                  [(Action("click", 4), Element(ref=4, tag="button", id="subbtn"))])  # fmt: skip
    assert skill is not None
    store.add(skill)
    assert store.retrieve("click-test", "Click the button.")
    store.record(skill.name, success=False)
    assert not store.retrieve("click-test", "Click the button.")


def _stubborn(messages: Sequence[Message], constraint: Constraint | None) -> str:
    """A planner that clicks text blocks (the page does nothing), the first its grammar allows."""
    if current_node.get() == "action_planning":
        assert constraint is not None and constraint.regex
        prompt = messages[-1]["content"]
        divs = [r for r, t, _, _ in _elements(prompt.split("Elements", 1)[1]) if t == "div"]
        return next(f"click({d})" for d in divs if re.fullmatch(constraint.regex, f"click({d})"))
    return policy(messages, constraint)


def test_a_page_that_ignores_the_actions_ends_bounded(env: MiniWoB, tmp_path: Path) -> None:
    r = run(_spec(tmp_path), {"task": "click-button", "seed": 3}, backends=_backends(_stubborn),
            call_log=False, resources={"browser": env, "skills": SkillStore()})  # fmt: skip
    assert r.error is None
    assert r.output["outcome"] == "limit"  # the act node's bound, not a crash
    actions = [m["action"] for m in r.state["memory"]]
    assert len(actions) == 12
    assert sum(t["node"] == "self_reflection" and bool(t["model"]) for t in r.trace) == 11
    # The grammar leaves out the action just done: the planner cannot click the same twice.
    assert all(a != b for a, b in itertools.pairwise(actions))


def test_a_repeated_action_is_refused_and_replanned(env: MiniWoB, tmp_path: Path) -> None:
    """The act node's backstop, for a planner whose grammar does allow the repeat."""
    spec = _spec(tmp_path).model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    spec["nodes"]["action_planning"]["params"] = {"no_repeats": False}
    r = run(load_spec(spec), {"task": "click-button", "seed": 3},
            backends=_backends(_stubborn), call_log=False,
            resources={"browser": env, "skills": SkillStore()})  # fmt: skip
    assert r.error is None and r.output["outcome"] == "limit"
    memory = r.state["memory"]
    assert len(memory) == 12
    # The same click again is a loop: refused without running, and each step after a refusal
    # is replanned (the plan at step 0, its next step at 1, a new plan at 2..11).
    assert memory[0]["error"] is None and all("same action" in m["error"] for m in memory[1:])
    assert sum(t["node"] == "task_inference" and bool(t["model"]) for t in r.trace) == 11


def test_the_grammar_admits_only_the_pages_refs(env: MiniWoB) -> None:
    for task in ("login-user", "choose-list", "click-checkboxes", "email-inbox"):
        page = env.reset(task, 4)
        pattern = re.compile(grammar(page).regex or "")
        refs = set(page.refs())
        for ref in range(-3, max(refs) + 5):
            assert bool(pattern.fullmatch(f"click({ref})")) == (ref in refs)
        for e in page.elements:
            typed = bool(pattern.fullmatch(f'type({e.ref}, "abc")'))
            assert typed == (e.tag in ("input_text", "input_password", "textarea"))
            for option in e.options:
                assert pattern.fullmatch(f"select({e.ref}, {json.dumps(option)})")
        assert not pattern.fullmatch('select(4, "not an option")')
        assert pattern.fullmatch('press("Enter")') and pattern.fullmatch("done()")
        assert not pattern.fullmatch("click(4); click(5)")


def test_the_grammar_can_leave_out_the_action_just_done(env: MiniWoB) -> None:
    page = env.reset("login-user", 4)
    fields = [e.ref for e in page.elements if e.tag in ("input_text", "input_password")]
    button = next(e.ref for e in page.elements if e.tag == "button")
    same = re.compile(grammar(page, exclude=parse(f"click({button})")).regex or "")
    assert not same.fullmatch(f"click({button})") and same.fullmatch(f"click({fields[0]})")
    typed = parse(f'type({fields[0]}, "ann")')
    held = re.compile(grammar(page, texts=["ann", "Ann"], exclude=typed).regex or "")
    assert not held.fullmatch(f'type({fields[0]}, "ann")')
    assert held.fullmatch(f'type({fields[0]}, "Ann")') and held.fullmatch(
        f'type({fields[1]}, "ann")'
    )
    free = re.compile(grammar(page, exclude=typed).regex or "")  # free text: the field is left out
    assert not free.fullmatch(f'type({fields[0]}, "bob")') and free.fullmatch(
        f'type({fields[1]}, "bob")'
    )
    assert free.fullmatch("done()")


def test_a_refused_action_is_a_message(env: MiniWoB) -> None:
    env.reset("click-test", 0)
    assert "refused" in (env.click(9999) or "")
    assert "no element" in (env.select(9999, "x") or "")
    assert "no key" in (env.press("F13") or "")


def test_actions_parse_and_print() -> None:
    for text in ("click(12)", 'type(5, "a \\"b\\"")', 'select(3, "Option A")', 'press("Enter")',
                 'skill("login-user/abc123")', "done()"):  # fmt: skip
        assert str(parse(text)) == text
        assert Action.from_dict(parse(text).to_dict()) == parse(text)
    for bad in ("click()", "click(a)", "type(5)", "jump(3)", "", "click(1) and more"):
        with pytest.raises(ValueError):
            parse(bad)


def test_an_unknown_task_says_which(env: MiniWoB) -> None:
    with pytest.raises(RunError, match="click-button"):
        env.reset("click-buton", 0)


def test_a_missing_browser_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMGRAPH_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(RunError, match="SLMGRAPH_CHROMIUM"):
        chromium.launch()


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"reached")

    def log_message(self, *args: Any) -> None:
        pass


def test_the_browser_reaches_no_host(env: MiniWoB) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env.reset("click-test", 0)
        port = server.server_address[1]
        for url in (f"http://127.0.0.1:{port}/x", f"http://localhost:{port}/y",
                    "https://example.com/"):  # fmt: skip
            got = env.driver.execute_async_script(
                "var done = arguments[arguments.length - 1];"
                "fetch(arguments[0]).then(r => r.text()).then(done, e => done('blocked'));",
                url,
            )
            assert got == "blocked", url
        assert _Handler.hits == []
        assert env.page().goal  # the task page still works
    finally:
        server.shutdown()


def test_typing_can_be_held_to_the_values_the_instruction_names(env: MiniWoB) -> None:
    from slmgraph.agents.operator.planning import named_values

    page = env.reset("enter-text", 2)
    (value,) = re.findall(r'"([^"]+)"', page.goal)
    state = {"page": page.to_dict(), "observation": {"values": [value, "invented"]}}
    texts = named_values(state)
    assert texts == [value, value.lower(), value.upper()]  # "invented" is not in the goal
    pattern = re.compile(grammar(page, texts=texts).regex or "")
    field = next(e.ref for e in page.elements if e.tag == "input_text")
    assert pattern.fullmatch(f"type({field}, {json.dumps(value.lower())})")
    assert not pattern.fullmatch(f'type({field}, "text")')


def test_an_episode_does_not_depend_on_the_ones_before(env: MiniWoB) -> None:
    first = env.reset("login-user", 5).lines()
    env.click(env.page().elements[-1].ref)  # leaves focus and refs behind
    env.reset("login-user", 6)
    env.page()
    assert env.reset("login-user", 5).lines() == first  # same seed, same page, same refs


def test_a_browser_that_dies_is_one_error_and_the_next_episode_starts_one() -> None:
    with MiniWoB(wait_ms=0) as own:
        own.reset("click-test", 0)
        own.driver.quit()  # Chromium gone under the episode
        with pytest.raises(RunError, match="the browser failed"):
            own.page()
        assert own.reset("click-test", 1).elements  # a new browser, the episode runs


def test_type_fills_the_field_and_reflection_reads_it_off_the_page(env: MiniWoB) -> None:
    """Typing twice leaves the field holding the text once (it is cleared first), and
    self-reflection takes that from the page with no model call; a refusal is a failure."""
    from slmgraph.agents.operator.reflection import page_verdict

    page = env.reset("enter-text", 3)
    field = next(e for e in page.elements if e.tag == "input_text")
    assert env.type(field.ref, "tula") is None and env.type(field.ref, "tula") is None
    now = env.page()
    assert now.get(field.ref).value == "tula"  # type: ignore[union-attr]
    state = {"page": now.to_dict()}
    held = page_verdict(state, {"action": f'type({field.ref}, "tula")', "error": None})
    assert held is not None and held["success"]
    other = page_verdict(state, {"action": f'type({field.ref}, "ann")', "error": None})
    assert other is None  # not what the field holds: the model judges
    assert page_verdict(state, {"action": f"click({field.ref})", "error": None}) is None
    refused = page_verdict(state, {"action": "click(99)", "error": "no element [99]"})
    assert refused is not None and not refused["success"]


def test_the_react_baseline_runs_a_real_task_one_call_per_action(env: MiniWoB) -> None:
    from slmgraph.eval.operator.miniwob import react_spec

    store = SkillStore()
    r = run(react_spec("slm"), {"task": "enter-text", "seed": 5}, backends=_backends(),
            call_log=False, resources={"browser": env, "skills": store})  # fmt: skip
    assert r.error is None and r.output["outcome"] == "success", r.output
    called = [(t["node"], t["tier"]) for t in r.trace if t["model"]]
    assert called == [("react", "slm")] * len(r.state["memory"]) == [("react", "slm")] * 2
    assert not store.all(), "the baseline learns no skills"
