"""okru: the ``okru`` command line for the OK.ru (Odnoklassniki) API.

The library itself lives in ``okru_proto`` (the sans-I/O core), ``okru_httpx`` (httpx, sync and
async) and ``okru_trio``. This package is the command: ``okru demo``, ``okru call``, ``okru
login``/``logout``, ``okru sign`` and ``okru fake-server`` (``python -m okru`` works too).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
