import importlib

import pytest


@pytest.fixture
def apply(monkeypatch):
    """Apply a fake's module patches (expected checksums, counts, test sizes of the tiny fakes)."""
    def run(fake):
        for (module, name), value in fake.patches.items():
            monkeypatch.setattr(importlib.import_module(module), name, value)
        monkeypatch.delenv("GAN_STUDY_PREPARED", raising=False)
        return fake

    return run
