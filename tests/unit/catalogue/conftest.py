from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def encoder_ready():
    """The ONNX export is an install step (make); export here only when it is missing (needs the trainer extras)."""
    from shared.engine.embeddings.export import export, is_current

    if not is_current():
        export()
    return True
