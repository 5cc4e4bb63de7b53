"""okru: the ``okru`` command line for the OK.ru (Odnoklassniki) API.

The library itself lives in ``okru_proto`` (the sans-I/O core), ``okru_httpx`` (httpx, sync and
async) and ``okru_trio``. This package is the command: ``okru demo``, ``okru call``, ``okru
login``/``logout``, ``okru sign``, ``okru upload-video``, ``okru bot`` and ``okru fake-server``
(``python -m okru`` works too).
"""

# Every okru package has okru_proto's version (the one pyproject.toml reads). Looked up on first
# use: `okru --help` imports this package and should not pay for the core it does not need.
TYPE_CHECKING = False  # not typing's (see _cli)
if TYPE_CHECKING:
    from okru_proto import __version__ as __version__
else:
    def __getattr__(name: str) -> str:
        if name == "__version__":
            from okru_proto import __version__

            return __version__
        raise AttributeError(f"module 'okru' has no attribute {name!r}")

__all__ = ["__version__"]
