"""The README is executed: every Python block runs, in order, in one
namespace (as a reader pastes them), with the training budgets shrunk to the
"smoke" preset so that the whole README trains in seconds. A block preceded
by ``<!-- README test: skip (reason) -->`` needs what tests cannot have (a
download, a file of the user's)."""

import re
from pathlib import Path

import pytest

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.presets import PRESETS

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"(<!-- README test: skip \((?P<reason>[^)]*)\) -->\n)?```python\n(?P<code>.*?)```",
                   re.DOTALL)


def python_blocks():
    return [(match["code"], match["reason"]) for match in BLOCK.finditer(README)]


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    for name in ("paper", "cpu"):
        monkeypatch.setitem(PRESETS, name, PRESETS["smoke"])
    smoke_defaults = {**DenoiSegEstimator.__init__.__kwdefaults__, **PRESETS["smoke"],
                      "verbose": 0}
    monkeypatch.setattr(DenoiSegEstimator.__init__, "__kwdefaults__", smoke_defaults)
    blocks = python_blocks()
    assert len(blocks) >= 8
    namespace = {}
    for index, (code, skip_reason) in enumerate(blocks):
        if skip_reason:
            compile(code, f"README block {index}", "exec")  # still valid Python
            continue
        try:
            exec(compile(code, f"README block {index}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"README block {index} failed: {error!r}\n{code}")
    search = namespace["search"]
    assert all(score == score for score in search.cv_results_["mean_test_score"])  # no NaN


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    commands = re.findall(r"^(pip install -e .*?|python -m pytest)\s", README, re.MULTILINE)
    assert 'pip install -e ".[demo,test,bioimageio]"' in commands and "python -m pytest" in commands
    assert 'python -m pip install --quiet -e ".[demo,test,bioimageio]"' in ci
    assert ci[-1] == "python -m pytest"
