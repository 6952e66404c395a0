"""medselect: choose the medical-imaging model to put in front of patients.

The Python face is :mod:`medselect.api`, re-exported here and loaded on first use, so
``import medselect`` stays light::

    import medselect as ms
    report = ms.rank(table, "dice")          # any per-case table (pandas)

Layers, lowest first (each imports only those below it): casetable, config and store; data,
metrics and rank; tasks, train and choose; sweep and evaluate; registry; api, dashboard and
deploy (the api is also deploy's face); cli. ``tests/unit/test_architecture.py`` enforces them.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medselect")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

_API = ("case_table", "choose_model", "evaluate_models", "export_models", "import_data",
        "model_card", "open_workspace", "predict", "promote", "run_sweep", "select_by_site")

__all__ = ["__version__", "rank", *_API]


def __getattr__(name: str):
    if name == "rank":  # the ranking package, callable: rank(table, "dice")
        return import_module("medselect.rank")
    if name in _API:
        return getattr(import_module("medselect.api"), name)
    raise AttributeError(f"module 'medselect' has no attribute {name!r}")
