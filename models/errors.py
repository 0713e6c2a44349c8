"""Errors the models package raises on purpose.

One small tree, so the CLI turns every expected failure into one red line and exit code 1, and the
worker can catch exactly what it can act on at startup::

    ModelsError                  anything the models package expected could go wrong
    ├── DataError                dataset unreadable, missing columns, too short for the protocol
    ├── BundleError              bundle files missing or unreadable
    │   └── FeatureMismatchError bundle feature names / registry hash differ from features.registry
    ├── RegistryError            unknown version, no current model, nothing to roll back to
    └── BackendError             scoring backend unavailable (lleaves not installed, compile failed)

Foreign errors (OSError, LightGBM, pyarrow, lleaves) are wrapped once, where they happen, with
``raise ... from``.
"""

from __future__ import annotations


class ModelsError(Exception):
    """Base of every error the models package raises on purpose."""


class DataError(ModelsError):
    """The training data cannot be used (unreadable, missing columns, wrong time span)."""


class BundleError(ModelsError):
    """A model bundle directory is incomplete or unreadable."""


class FeatureMismatchError(BundleError):
    """The bundle was trained on other features than the ones ``features.registry`` serves."""


class RegistryError(ModelsError):
    """A registry operation cannot be done (unknown version, empty history)."""


class BackendError(ModelsError):
    """The requested scoring backend cannot be used."""
