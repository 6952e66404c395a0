"""medselect: choose the medical-imaging model to put in front of patients.

Layers, lowest first (each imports only those below it): config and store; data, metrics and
rank; tasks and train; sweep and evaluate; registry; dashboard; cli. See DESIGN.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medselect")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["__version__"]
