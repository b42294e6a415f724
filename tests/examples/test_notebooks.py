"""The example notebooks (jupytext percent files in ``examples/``) run end to end at small budgets.

Each notebook ends with ``assert`` cells checking what it claims, so a failing claim fails its test;
the test also checks that its figures were written and shown inline. The notebooks read their budgets
from ``NOTEBOOK_*`` environment variables, which the kernel inherits from this process.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbclient
import pytest
from ipykernel import kernelspec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# The test budgets: seconds per notebook instead of minutes.
NOTEBOOKS = {
    "01_bullwhip.py": (
        {"NOTEBOOK_EPISODES": "8"},
        ["01_bullwhip_episode.png", "01_bullwhip_ratios.png", "01_bullwhip_ratios_uniform.png"],
    ),
    "02_base_stock.py": ({"NOTEBOOK_EPISODES": "4"}, ["02_base_stock_surface.png"]),
    "03_train_ippo.py": (
        {"NOTEBOOK_TIMESTEPS": "1024", "NOTEBOOK_NUM_ENVS": "8", "NOTEBOOK_EPISODES": "4"},
        ["03_learning_curve.png", "03_run_chunk_evaluations.png"],
    ),
    "05_gymnasium_torch.py": ({"NOTEBOOK_EPISODES": "4", "NOTEBOOK_NUM_ENVS": "8"}, ["05_reinforce.png"]),
}
NEEDS = {"05_gymnasium_torch.py": "torch"}


def test_every_notebook_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("[0-9]*.py")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_and_its_checks_pass(name, learner_env, tmp_path, monkeypatch):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    budget, figures = NOTEBOOKS[name]
    output_dir = tmp_path / "output"
    for variable, value in {**budget, "NOTEBOOK_OUTPUT_DIR": str(output_dir)}.items():
        monkeypatch.setenv(variable, value)
    # Inline figures: a kernel started with MPLBACKEND=Agg would draw them but show nothing.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # XLA_FLAGS (tests/conftest.py: the suite's faster-compiling XLA:CPU flags) is inherited.
    # A python3 kernel of this very interpreter, ahead of any other python3 kernelspec on the machine.
    kernelspec.write_kernel_spec(tmp_path / "jupyter" / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))

    notebook = jupytext.read(EXAMPLES / name)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    shown = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(shown) >= len(figures), f"{len(shown)} inline figures, expected at least {len(figures)}"
    for figure in figures:
        path = output_dir / figure
        assert path.is_file() and path.read_bytes().startswith(b"\x89PNG"), path
    printed = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert printed.rstrip().endswith("all checks passed")
