"""MiniWoB++ tasks in a real headless Chromium: reset to a task and seed, read the page, act.

The task pages ship in the ``miniwob`` wheel (Farama's MiniWoB++). This drives them through
the pages' own JavaScript API, exactly as the package's ``SeleniumInstance`` does — seed with
``Math.seedrandom``, start with ``core.startEpisodeReal()``, read ``core.getDOMInfo()`` (which
gives every element a ``ref``), click with ``core.elementClick(ref)``, and read the reward the
page itself sets (``WOB_DONE_GLOBAL``, ``WOB_RAW_REWARD_GLOBAL``) — so rewards are the
benchmark's. One difference, stated in the benchmark report: the page's own 10-second episode
timer is raised to ``episode_s`` (a small model on two cores takes seconds per call; the
episode is bounded by the graph's step and time limits instead), and success is the raw
reward (no time discount), as in the published LLM-agent results.

One browser serves many episodes and tasks (a new page only when the task changes).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmgraph._suggest import did_you_mean
from slmgraph.errors import RunError
from slmgraph.tools.browser import chromium
from slmgraph.tools.browser.page import Page, flatten

#: Keys the ``press`` action may send (names the planner's grammar offers).
KEYS = ("Enter", "Tab", "Backspace", "Escape", "ArrowDown", "ArrowUp", "Space")


def task_dir() -> Path:
    try:
        import importlib.resources

        return Path(str(importlib.resources.files("miniwob") / "html" / "miniwob"))
    except ModuleNotFoundError:
        raise RunError("MiniWoB++ is not installed: pip install 'slmgraph[operator]'") from None


def task_names() -> list[str]:
    return sorted(p.stem for p in task_dir().glob("*.html"))


@dataclass
class Status:
    done: bool
    reward: float  # the raw reward: 1 success, -1 failure, partial credit between
    reason: str | None = None


@dataclass
class MiniWoB:
    """A MiniWoB++ environment in one headless Chromium (opened on first use)."""

    episode_s: float = 600.0
    wait_ms: int = 150
    driver: Any = None
    task: str | None = None
    seed: int | None = None
    _owned: bool = field(default=False, repr=False)

    def _browser(self) -> Any:
        if self.driver is None:
            self.driver = chromium.launch()
            self._owned = True
        return self.driver

    def _js(self, script: str, *args: Any) -> Any:
        """Run ``script`` in the page; a browser that died is one :class:`RunError` (and the
        next :meth:`reset` starts a new one)."""
        try:
            return self._browser().execute_script(script, *args)
        except Exception as exc:  # the driver's errors, or its connection refused once it died
            raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> RunError:
        text = str(getattr(exc, "msg", None) or exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        if self._owned and self.driver is not None:
            chromium.quit_quietly(self.driver)
            self.driver = None
        self.task = None  # the page must be loaded again
        return RunError(f"the browser failed: {first[:200]}")

    def reset(self, task: str, seed: int) -> Page:
        """Start an episode of ``task`` with ``seed``; the page as it opens. A browser that
        died since the last episode is started again (once)."""
        try:
            return self._reset(task, seed)
        except RunError as exc:
            if not str(exc).startswith("the browser failed") or not self._owned:
                raise
            return self._reset(task, seed)

    def _reset(self, task: str, seed: int) -> Page:
        path = task_dir() / f"{task}.html"
        if not path.is_file():
            hint = did_you_mean(task, task_names(), "tasks")
            raise RunError(f"no MiniWoB++ task {task!r}. {hint}")
        driver = self._browser()
        if task != self.task:
            try:
                driver.get(path.as_uri())
            except Exception as exc:  # as in _js
                raise self._failed(exc) from None
            self.task = task
        self.seed = seed
        # An episode's page must not depend on the episodes before it in this browser (the same
        # seed, the same prompt: a replay of logged calls must match). A new episode id first:
        # the page keeps an element's ref while the id is unchanged, so refs read after the
        # last episode ended would carry over.
        script = (
            "core.endEpisode(0);"
            "WOB_EPISODE_ID++;"
            f"Math.seedrandom({int(seed)});"
            'core.setDataMode("train");'
            f"core.EPISODE_MAX_TIME = {int(self.episode_s * 1000)};"
            "core.startEpisodeReal();"
            # and no focus left from the last episode (the page keeps it across episodes)
            "if (document.activeElement) document.activeElement.blur();"
        )
        self._js(script)
        for _ in range(40):
            if self._js("return WOB_TASK_READY;"):
                break
            time.sleep(0.05)
        else:
            raise RunError(f"the MiniWoB++ page {task!r} did not become ready")
        return self.page()

    def page(self) -> Page:
        """The page now: the task's instruction, its elements with refs, and whether it ended."""
        data = self._js(
            "var d = core.getDOMInfo();"
            "var sel = {};"
            "for (var r in core.previousDOMInfo) { var e = core.previousDOMInfo[r];"
            "  if (e instanceof HTMLSelectElement)"
            "    sel[r] = Array.from(e.options).map(function (o) { return o.text; }); }"
            "return {dom: d, selects: sel, utterance: core.getUtterance(),"
            "        done: WOB_DONE_GLOBAL, reward: WOB_RAW_REWARD_GLOBAL,"
            "        reason: WOB_REWARD_REASON};"
        )
        status = self.status()
        elements = flatten(data["dom"], {int(k): v for k, v in (data["selects"] or {}).items()})
        return Page(str(data["utterance"] or ""), elements, status.done, status.reward)

    def status(self) -> Status:
        got = self._js("return [WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL, WOB_REWARD_REASON];")
        reason = got[2]
        return Status(bool(got[0]), float(got[1] or 0.0), None if reason is None else str(reason))

    def click(self, ref: int) -> str | None:
        """Click element ``ref``; an error message when the page refuses."""
        result = self._js(f"return core.elementClick({int(ref)});")
        self._settle()
        return None if result is True else f"the page refused the click on [{ref}]: {result}"

    def type(self, ref: int, text: str) -> str | None:
        """Focus element ``ref`` (a click), clear what it holds and type ``text`` into it key
        by key: afterwards the field holds ``text`` (as a user's "fill in"), where typing on
        top appended ("tula" twice made "tulatula", and a planner that typed a value again to
        be sure undid its own step)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        error = self.click(ref)
        if error:
            return error
        try:
            chain = ActionChains(self._browser(), duration=0)
            chain.key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL)
            chain.send_keys(Keys.BACKSPACE).send_keys(text).perform()
        except Exception as exc:  # as in _js
            raise self._failed(exc) from None
        self._settle()
        return None

    def select(self, ref: int, option: str) -> str | None:
        """Choose ``option`` (its visible text) in the ``<select>`` element ``ref``."""
        from selenium.common.exceptions import NoSuchElementException, WebDriverException
        from selenium.webdriver.support.select import Select

        element = self._js(f"return core.previousDOMInfo[{int(ref)}] || null;")
        if element is None:
            return f"there is no element [{ref}] on the page"
        try:
            Select(element).select_by_visible_text(option)
        except NoSuchElementException:
            return f"[{ref}] has no option {option!r}"
        except WebDriverException as exc:
            return f"[{ref}] is not a list to select from: {str(exc.msg or exc)[:120]}"
        self._settle()
        return None

    def press(self, key: str) -> str | None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        names = {"Enter": Keys.ENTER, "Tab": Keys.TAB, "Backspace": Keys.BACKSPACE,
                 "Escape": Keys.ESCAPE, "ArrowDown": Keys.ARROW_DOWN, "ArrowUp": Keys.ARROW_UP,
                 "Space": Keys.SPACE}  # fmt: skip
        if key not in names:
            return f"no key {key!r}; keys: {', '.join(KEYS)}"
        try:
            ActionChains(self._browser(), duration=0).send_keys(names[key]).perform()
        except Exception as exc:  # as in _js
            raise self._failed(exc) from None
        self._settle()
        return None

    def screenshot(self, path: Path) -> Path | None:
        """The viewport as a PNG at ``path`` (None when the browser cannot take one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            ok = self._browser().save_screenshot(str(path))
        except Exception:  # a screenshot is for debugging; its failure ends nothing
            return None
        return path if ok else None

    def _settle(self) -> None:
        if self.wait_ms:
            time.sleep(self.wait_ms / 1000)

    def close(self) -> None:
        if self.driver is not None and self._owned:
            chromium.quit_quietly(self.driver)
        self.driver, self.task = None, None

    def __enter__(self) -> MiniWoB:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.close()


__all__ = ["KEYS", "MiniWoB", "Status", "task_dir", "task_names"]
