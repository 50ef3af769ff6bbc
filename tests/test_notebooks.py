"""The notebooks run top to bottom in their fast mode, and their committed
outputs come from a complete run in full mode."""

from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_gridsearch_alpha.ipynb", "03_paper_experiment.ipynb"]


# the paper experiment's fast mode still makes the synthetic pools of 448 images
# for every noise level and protocol: minutes on two cores, the longest test
FAST_RUNS = [pytest.param(path, marks=pytest.mark.slow) if path.stem == "03_paper_experiment"
             else path for path in NOTEBOOKS]


@pytest.mark.parametrize("path", FAST_RUNS, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(path, tmp_path):
    # papermill raises PapermillExecutionError on the first failing cell
    executed = papermill.execute_notebook(
        str(path), str(tmp_path / path.name), parameters={"FAST": True},
        cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
    )
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    figures = [output for cell in code for output in cell.outputs
               if "image/png" in output.get("data", {})]
    assert figures


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_come_from_a_full_run(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    parameters = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert [cell.source for cell in parameters] == ["FAST = False"]
    assert not any("injected-parameters" in cell.metadata.get("tags", []) for cell in code)
    assert all(cell.execution_count for cell in code[1:])
    assert not any(output.output_type == "error" for cell in code for output in cell.outputs)
    assert any("image/png" in output.get("data", {}) for cell in code for output in cell.outputs)
    text = " ".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert not any(marker in text for marker in ("INTERPRETATION", "WALLTIME", "TODO"))
