"""The notebooks run top to bottom in their fast mode."""

from pathlib import Path

import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_gridsearch_alpha.ipynb", "03_paper_experiment.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
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
