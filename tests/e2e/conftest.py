"""The e2e dataset and model fixtures live in ``tests/conftest.py`` (every tier uses them);
these names are kept for modules that import them from here."""

from tests.conftest import E2E_CONFIG, e2e_dataset, e2e_model_dir

__all__ = ["E2E_CONFIG", "e2e_dataset", "e2e_model_dir"]
