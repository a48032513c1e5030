"""The wheel works without the source tree: built from a clean copy of the tracked files,
installed into a fresh virtualenv, it validates, builds and runs every built-in graph and
answers ``slmgraph ask`` on the demo database (scripted tiers); a third-party plug-in installed
beside it (examples/plugin_domain) adds its agent, tool, prompt and graph through its entry point.

Offline: the wheel is built without build isolation, and the fresh environment finds
slmgraph's dependencies through a path entry to this environment's site-packages (not its
``.pth`` files, so the editable install of the source tree stays invisible there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

SCRIPTED_TIERS = """
tiers:
  slm:
    backend: scripted
    size: small
    settings:
      rules:
        - {node: write_sql, match: "How many customers", output: "SELECT count(*) FROM customers"}
        - {node: read, output: '{"value": 3, "unit": "mile", "to": "kilometre"}'}
        - {node: classify, output: billing}
        - {node: extract, output: '{"product": "Pro", "urgency": "high", "summary": "refund"}'}
        - node: product_manager
          output: '{"goal": "g", "inputs": [], "output": "o", "edge_cases": [],
            "examples": [{"call": "twice(2)", "expected": "4"}]}'
        - {node: qa, output: '{"cases": [{"call": "twice(0)", "expected": "0"}]}'}
        - {node: engineer, output: "def twice(x):\\n    return 2 * x\\n"}
        - {node: information_gathering, output: '{"relevant": [4], "values": []}'}
        - {node: skill_curation, output: none}
        - {node: action_planning, output: "click(4)"}
      default: "SELECT 1"
  llm:
    backend: scripted
    settings:
      default: "We will refund you."
      rules:
        - node: architect
          output: '{"signature": "def twice(x):", "data_structures": [], "steps": [],
            "test_cases": []}'
        - {node: task_inference, output: "click(4)"}
"""


def _tracked(dst: Path) -> None:
    """A copy of what a fresh clone has: the tracked files of the package and its metadata."""
    files = subprocess.run(
        ["git", "ls-files", "slmgraph", "pyproject.toml", "README.md"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in files:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dst / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the tracked files")
    work = tmp_path_factory.mktemp("wheel")
    src, dist, venv = work / "src", work / "dist", work / "venv"
    src.mkdir()
    _tracked(src)
    plugin = work / "plugin_domain"  # built from a copy: setuptools writes build/ beside it
    shutil.copytree(ROOT / "examples" / "plugin_domain", plugin)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    for project in (src, plugin):
        subprocess.run(
            [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(project)],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    wheel = next(dist.glob("slmgraph-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    for target in (str(wheel), str(next(dist.glob("slmgraph_units-*.whl")))):
        subprocess.run(
            [*pip, "--python", str(python), "install", "--no-deps", "--no-build-isolation",
             "--no-index", target],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # slmgraph's dependencies, from this environment (a path entry: its .pth files stay unread)
    (Path(purelib) / "deps-from-the-test-venv.pth").write_text(sysconfig.get_paths()["purelib"])
    tiers = work / "tiers.yaml"
    tiers.write_text(SCRIPTED_TIERS)
    return {"wheel": wheel, "venv": venv, "work": work, "tiers": tiers}


def _run(env: dict[str, Path], *args: str, tiers: bool = True) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SLMGRAPH_TIERS")}
    environ["SLMGRAPH_CALL_LOG"] = str(env["work"] / "calls.sqlite")
    environ["SLMGRAPH_NO_AUTO_PULL"] = "1"
    if tiers:
        environ["SLMGRAPH_TIERS"] = str(env["tiers"])
    return subprocess.run(
        [str(env["venv"] / "bin" / args[0]), *args[1:]],
        cwd=env["work"], env=environ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_wheel_ships_every_prompt_graph_and_marker(installed: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    package = ROOT / "slmgraph"
    data = [p for p in package.rglob("*") if p.suffix in (".yaml", ".typed")]
    assert data and all(p.relative_to(ROOT).as_posix() in names for p in data)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(installed["wheel"]).read(entry).decode()
    assert "[slmgraph.plugins]" in text and "sql = slmgraph.domains.sql:plugin" in text
    assert "team = slmgraph.domains.team:plugin" in text
    assert "operator = slmgraph.domains.operator:plugin" in text


def test_the_installed_package_is_not_the_source_tree(installed: dict[str, Path]) -> None:
    out = _run(installed, "python", "-c", "import slmgraph; print(slmgraph.__file__)")
    assert out.returncode == 0, out.stderr
    assert str(installed["venv"]) in out.stdout and str(ROOT) not in out.stdout


def test_every_builtin_graph_validates_builds_and_runs(installed: dict[str, Path]) -> None:
    plugins = _run(installed, "slmgraph", "plugins")
    assert plugins.returncode == 0, plugins.stdout + plugins.stderr
    assert "sql:" in plugins.stdout and "units:" in plugins.stdout
    code = (
        "import json, sys\n"
        "from slmgraph.plugins import builtin_graphs\n"
        "from slmgraph import load_spec, run\n"
        "from slmgraph.tools.sql.demo import build_demo_db\n"
        "db = str(build_demo_db('shop.sqlite'))\n"
        "inputs = {'question': 'How many customers are there?', 'db': db,\n"
        "          'ticket': 'I was charged twice', 'task': 'def twice(x): ...'}\n"
        "out = {}\n"
        "for name in builtin_graphs():\n"
        "    spec = load_spec(name)\n"
        "    keep = {k: v for k, v in inputs.items() if k in spec.state_fields()}\n"
        "    if name == 'operator':  # a MiniWoB++ episode in the headless browser\n"
        "        keep = {'task': 'click-test', 'seed': 0}\n"
        "    out[name] = run(spec, keep, call_log=False).status\n"
        "print(json.dumps(out))\n"
    )
    result = _run(installed, "python", "-c", code)
    assert result.returncode == 0, result.stderr
    from slmgraph.tools.browser import chromium

    browser = "ok" if chromium.available() is None else "error"  # no browser: a clean error
    assert json.loads(result.stdout) == {
        "convert": "ok", "operator": browser, "query_writer": "ok", "software_team": "ok",
        "triage": "ok",
    }  # fmt: skip
    validate = _run(installed, "slmgraph", "validate", "triage", "query_writer", "convert")
    assert validate.returncode == 0, validate.stderr
    assert "triage: ok (3 nodes" in validate.stdout and "query_writer: ok" in validate.stdout


def test_ask_answers_on_the_demo_database(installed: dict[str, Path]) -> None:
    db = installed["work"] / "demo.sqlite"
    assert _run(installed, "slmgraph", "demo-db", str(db)).returncode == 0
    out = _run(installed, "slmgraph", "ask", "--db", str(db), "How many customers are there?")
    assert out.returncode == 0, out.stderr
    assert "SQL:    SELECT count(*) FROM customers" in out.stdout
    assert "Answer: The answer is 40." in out.stdout


def test_the_third_party_domain_runs_from_its_entry_point(installed: dict[str, Path]) -> None:
    out = _run(installed, "slmgraph", "run", "convert", "--input",
               '{"question": "How many km is 3 miles?"}')  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "answer: 3 mi = 4.828 km" in out.stdout
    assert "Traceback" not in out.stderr
