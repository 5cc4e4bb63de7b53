"""tests/stores' fixtures (a real Redis-protocol server, the emulator on loopback) for the stores
driven by every adapter. The wildcard keeps every fixture of that conftest visible here, including
ones it adds later; a session here and one in tests/stores each start their own server."""

from tests.stores.conftest import *  # noqa: F403
