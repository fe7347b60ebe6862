import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Two cores on CI: keep torch from oversubscribing.
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


def write_tiny_notebook(folder, name: str, body: str):
    """``folder/name``: a notebook whose ``parameters`` cell sets ``preset = "smoke"`` and whose one
    other cell runs ``body`` (written with cell ids, as every notebook of the project)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook()
    p = new_code_cell('preset = "smoke"')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


@pytest.fixture(scope="session")
def val_pairs(tmp_path_factory):
    """Three WILD validation pairs of the virtual camera (a few seconds), for the tests that measure a network."""
    from repro.wild import build_wild

    root = tmp_path_factory.mktemp("pairs")
    build_wild("virtual", root, split="val", pairs=3, workers=0, flow_backend="true", progress=False)
    return root

