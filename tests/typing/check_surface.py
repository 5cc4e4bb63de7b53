# Checked by mypy, never run (see check_api_await.py): a name that left okru_proto's top level in
# okru 0.2 is a type error under its old spelling (it still resolves at run time, with a
# DeprecationWarning); its new home, and the names that stayed, type-check.
from __future__ import annotations

import okru_proto
from okru_proto import APIError, Token, sign
from okru_proto import prepare_call as old_prepare_call  # type: ignore[attr-defined]
from okru_proto.adapter import prepare_call
from okru_proto.bots import keyboard
from okru_proto.errors import PermissionDeniedError


def new_homes(token: Token, secret: str) -> str:
    assert issubclass(PermissionDeniedError, APIError)
    keyboard([])
    old_prepare_call
    return sign({"method": "users.getCurrentUser", "token": token.access_token}, secret) + str(prepare_call)


def old_attribute() -> object:
    return okru_proto.keyboard  # type: ignore[attr-defined]
