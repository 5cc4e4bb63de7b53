"""What an adapter author (or an application embedding the core by hand) uses: one namespace.

Applications import sessions, :class:`~okru_proto.Token`, the errors and ``sign`` from
``okru_proto`` (and sessions from an adapter); writing an adapter takes the names here
(gidgethub's ``sansio``/``abc`` split is the model; docs/embedding.md):

* the session shapes an adapter mixes in: :class:`SessionSpec` and its eight constructor
  classes, :data:`CORE_OPTIONS`, :class:`SyncSessionBase` / :class:`AsyncSessionBase` (the
  drivers that run the core's flows with the adapter's ``_send``/``_sleep``/``_lock``), and the
  bot equivalents;
* the flow protocol: a :data:`Flow` is a generator that yields :class:`Request` values (send it,
  ``.send()`` back the :class:`Response`) or effects (:class:`Sleep`, :class:`RefreshNeeded`,
  :class:`Callback`, :class:`StoreCall`); :func:`run_sync` / :func:`run_async` drive one;
* the core session itself (:class:`SessionCore`, the grants, :func:`circuit_for`,
  :func:`signing_secret`) and the wire steps (:func:`prepare_call`, :func:`parse_call_response`);
* the trusted ways in: :func:`trusted_response` (a :class:`Response` without re-validation, for a
  parser that already validated) and :func:`check_base_url` (the https-or-loopback rule);
* reply decoding under ``max_response_bytes``: :data:`ACCEPT_ENCODING` (what to ask for),
  :class:`Inflater` (one gzip/deflate stream, chunk by chunk) and :func:`decode_body` (a whole
  body, stacked codings included).

Nothing here does I/O.
"""

from __future__ import annotations

from ._bot_core import BotCore
from ._bot_facade import BOT_OPTIONS, AsyncBotBase, BotSessionSpec, SyncBotBase
from ._circuit import CIRCUITS, Circuit, circuit_for, signing_secret
from ._decode import ACCEPT_ENCODING, DECODED_CODINGS, MAX_CODINGS, Inflater, decode_body
from ._defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
)
from ._facade import AsyncSessionBase, SyncSessionBase
from ._flow import Callback, Effect, Flow, RefreshNeeded, Sleep, StoreCall, guarded, run_async, run_sync
from ._grants import CodeGrant, Grant, GrantContext, ImplicitGrant, PasswordGrant, RefreshGrant
from ._rest import (
    FORM_CONTENT_TYPE,
    RESERVED_PARAMS,
    describe_body,
    form_encode,
    parse_call_response,
    parse_json_body,
    prepare_call,
)
from ._retry import retrying
from ._scrub import scrub_error
from ._session import CORE_OPTIONS, OnToken, SessionCore
from ._spec import (
    AppSessionSpec,
    ClientSessionSpec,
    CodeSessionSpec,
    ImplicitSessionSpec,
    PasswordSessionSpec,
    PublicSessionSpec,
    RefreshSessionSpec,
    ServerSessionSpec,
    SessionSpec,
)
from ._types import SECRET_PARAM_NAMES, Request, Response, check_base_url, mask_query, trusted_response

__all__ = [
    "ACCEPT_ENCODING",
    "BOT_OPTIONS",
    "CIRCUITS",
    "CORE_OPTIONS",
    "DECODED_CODINGS",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "FORM_CONTENT_TYPE",
    "MAX_CODINGS",
    "RESERVED_PARAMS",
    "SECRET_PARAM_NAMES",
    "AppSessionSpec",
    "AsyncBotBase",
    "AsyncSessionBase",
    "BotCore",
    "BotSessionSpec",
    "Callback",
    "Circuit",
    "ClientSessionSpec",
    "CodeGrant",
    "CodeSessionSpec",
    "Effect",
    "Flow",
    "Grant",
    "GrantContext",
    "ImplicitGrant",
    "ImplicitSessionSpec",
    "Inflater",
    "OnToken",
    "PasswordGrant",
    "PasswordSessionSpec",
    "PublicSessionSpec",
    "RefreshGrant",
    "RefreshNeeded",
    "RefreshSessionSpec",
    "Request",
    "Response",
    "ServerSessionSpec",
    "SessionCore",
    "SessionSpec",
    "Sleep",
    "StoreCall",
    "SyncBotBase",
    "SyncSessionBase",
    "check_base_url",
    "circuit_for",
    "decode_body",
    "describe_body",
    "form_encode",
    "guarded",
    "mask_query",
    "parse_call_response",
    "parse_json_body",
    "prepare_call",
    "retrying",
    "run_async",
    "run_sync",
    "scrub_error",
    "signing_secret",
    "trusted_response",
]
