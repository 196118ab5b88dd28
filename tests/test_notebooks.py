"""Every notebook in notebooks/ runs top to bottom in a Jupyter kernel, with its runs shortened.

As papermill does, the cell tagged `parameters` is followed by an injected cell: here `extra`, the
overrides every run of the notebook gets (fewer epochs and batches). The notebooks share one kernel, started
with LITLAB_DATA_DIR pointing at the checkout's data/: before each one, an injected first cell empties the
kernel's namespace (IPython's `%reset -f`) and moves it into a temporary folder of its own (outputs/ and the
notebook's files land there). What stays is what a new kernel would load again: the imported modules (torch,
Lightning and litlab, about 7 s of CPU per kernel).
"""

import os

import nbformat
import pytest
from conftest import ROOT, needs_fashion
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FASHION = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
]
SHORTEN = {  # notebook -> the overrides its runs get in CI
    "01_linear_and_softmax_regression": FASHION,
    "02_mlp_and_dropout": FASHION,
    "03_polynomial_under_and_overfitting": ["trainer.max_epochs=20"],
    "04_weight_decay": ["trainer.max_epochs=5", "regularization.l2=0,3", "seed=0,1"],
    "05_optimizers_on_iris": ["trainer.max_epochs=3", "optimizer=sgd,adam"],
    "06_your_own_table": ["trainer.max_epochs=3"],
}
USES_FASHION = {"01_linear_and_softmax_regression", "02_mlp_and_dropout"}


class CountingClient(NotebookClient):
    """Counts the in-place updates of displayed outputs (the live plot's)."""

    updates = 0

    def _update_display_id(self, display_id, msg):
        CountingClient.updates += msg["header"]["msg_type"] == "update_display_data"
        super()._update_display_id(display_id, msg)


@pytest.fixture(scope="module")
def kernel():
    """One python3 kernel for the notebooks of this file (tests/conftest.py keeps them on one xdist worker)."""
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(
        env={
            **os.environ,
            "LITLAB_DATA_DIR": str(ROOT / "data"),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        }
    )
    yield manager
    manager.shutdown_kernel(now=True)


def test_every_notebook_is_listed_and_stored_without_outputs():
    assert {path.stem for path in NOTEBOOKS} == set(SHORTEN)
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), f"{path.name} has outputs"
        assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1, path.name


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=[needs_fashion] if p.stem in USES_FASHION else [], id=p.stem) for p in NOTEBOOKS]
)
def test_notebook_runs_top_to_bottom(path, tmp_path, kernel):
    notebook = nbformat.read(path, as_version=4)
    at = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    notebook.cells.insert(at + 1, new_code_cell(f"extra = {SHORTEN[path.stem]!r}   # injected by the test"))
    # As a new kernel would start: no names defined (not even `os`), in a folder of its own.
    notebook.cells.insert(
        0,
        new_code_cell(
            f"get_ipython().run_line_magic('reset', '-f')\n"
            f"__import__('os').chdir({str(tmp_path)!r})   # injected by the test"
        ),
    )
    if not kernel.is_alive():  # a notebook before this one killed it
        kernel.restart_kernel(now=True)
    CountingClient.updates = 0
    client = CountingClient(notebook, km=kernel, timeout=600)
    try:
        client.execute()  # raises CellExecutionError, naming the cell, on any error
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
    assert list((tmp_path / "outputs").rglob("metrics.json")), "no run wrote its metrics.json"
    # The live plot: one figure (a PNG display) per run, or per sweep, updated in place; no progress bar text.
    for cell in notebook.cells:
        runs = cell.source.count("litlab.train(") + cell.source.count("litlab.sweep(")
        if cell.cell_type == "code" and runs:
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == runs, f"{path.stem}: {len(images)} figures for {runs} runs in\n{cell.source}"
            assert "Epoch " not in "".join(o.get("text", "") for o in cell.outputs), "the progress bar printed"
    assert CountingClient.updates > 0, "the live plot never updated its figure in place"
