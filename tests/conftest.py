import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Two cores on CI: keep torch from oversubscribing.
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
