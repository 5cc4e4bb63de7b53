"""okru_proto.adapter: everything an adapter author (or an application driving the core by hand)
uses, in one namespace.

``okru_proto`` has four public namespaces (docs/embedding.md): the top level for applications
(``Token``, ``Secret``, ``Endpoints``, ``RetryPolicy``, ``sign``, ``authorize_url``, the upload
values, token stores and the error bases), :mod:`okru_proto.errors` (every error class and the
OK.ru code table), :mod:`okru_proto.bots` (the Bot API and webhook vocabulary) and this one, the
sans-I/O machinery (gidgethub's ``sansio``/``abc`` split is the model):

* the session shapes an adapter mixes in: :class:`SessionSpec` and its eight constructor
  classes, :data:`CORE_OPTIONS`, :class:`SyncSessionBase` / :class:`AsyncSessionBase` (the
  drivers that run the core's flows with the adapter's ``_send``/``_sleep``/``_lock``), the bot
  equivalents, and :class:`API` (the ``api.group.method()`` proxy over any session);
* the flow protocol: a :data:`Flow` is a generator that yields :class:`Request` values (send it,
  ``.send()`` back the :class:`Response`) or effects (:class:`Sleep`, :class:`RefreshNeeded`,
  :class:`Callback`, :class:`StoreCall`, :class:`Measure`); :func:`run_sync` / :func:`run_async` drive one, and
  :func:`guarded` / :func:`scrub_error` keep secrets out of what it raises;
* the core session itself (:class:`SessionCore`, the grants, :func:`circuit_for`,
  :func:`signing_secret`, :func:`circuit_for_signing`, :func:`session_for`) and every
  wire step: calls (:func:`prepare_call`,
  :func:`parse_call_response`), signing (:func:`canonical_string`, :func:`server_secret`,
  :func:`wire_params`), OAuth and the login dialog (:func:`code_flow`, :func:`implicit_flow`,
  :func:`parse_callback`...), paging (:class:`Pager`, :class:`Page`), photo and video upload
  (:func:`upload_photos_flow`, :func:`upload_video_flow`, :class:`StreamedBody`,
  :class:`SourceRange`, :func:`plan_blocks`, :class:`PhotoFile` / :func:`multipart_body` (a
  photo streamed from a path)), the Bot API graph calls, and their constants (the blocking reads
  of an upload's source that an adapter runs are in :mod:`okru_io`, outside the core);
* the trusted ways in: :func:`trusted_response` (a :class:`Response` without re-validation, for a
  parser that already validated) and :func:`check_base_url` (the https-or-loopback rule);
* reply decoding under ``max_response_bytes``: :data:`ACCEPT_ENCODING` (what to ask for),
  :class:`BodyDecoder` (a reply's whole ``Content-Encoding``, stacked codings included, as the
  body arrives), :class:`Inflater` (one gzip/deflate stream) and :func:`decode_body` (a whole
  body at once);
* what a shared store is beyond tokens (the stores are okru_stores'): :class:`OnceStore` (claim a
  key, do the work once, record its :class:`Claim`'s outcome) and :class:`ValueStore` (small
  values with an expiry), for code that takes ``store=``.

Nothing here does I/O. This module owns only the list; each name lives with its code.
"""

from __future__ import annotations

from .._defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
)
from .._flow import (
    Callback,
    Effect,
    Flow,
    Measure,
    RefreshNeeded,
    Sleep,
    StoreCall,
    guarded,
    retrying,
    run_async,
    run_sync,
)
from .._grants import CodeGrant, Grant, GrantContext, ImplicitGrant, PasswordGrant, RefreshGrant
from .._paging import DEFAULT_MAX_PAGES, Page, Pager
from .._photos import (
    PHOTO_IDS_PLACEHOLDER,
    UPLOAD_STEPS,
    PhotoFile,
    PhotoSource,
    build_multipart,
    commit_params,
    fill_photo_ids,
    multipart_body,
    parse_commit,
    parse_upload_reply,
    parse_upload_url,
    prepare_upload,
    upload_photos_flow,
)
from .._scrub import mask_upload_url, scrub_error
from .._session import CORE_OPTIONS, OnToken, SessionCore
from .._store import Claim, OnceStore, ValueStore, token_from_json, token_to_json
from .._values import (
    DEFAULT_BLOCK_SIZE,
    SECRET_PARAM_NAMES,
    Request,
    Response,
    SourceRange,
    StreamedBody,
    check_base_url,
    mask_query,
    plan_blocks,
    reveal,
    trusted_response,
)
from .._video import (
    DEFAULT_CHUNK_SIZE,
    MULTIPART_LIMIT,
    RESUMABLE_THRESHOLD,
    VIDEO_STEPS,
    SourceFingerprint,
    SourceQuery,
    UploadStatus,
    content_range,
    parse_upload_status,
    parse_video_upload_url,
    sample_ranges,
    upload_byte_budget,
    upload_video_flow,
)
from .._wire.decode import ACCEPT_ENCODING, DECODED_CODINGS, MAX_CODINGS, BodyDecoder, Inflater, decode_body
from .._wire.dialog import MAX_DIALOG_STEPS, CookieJar, Form, implicit_flow, parse_forms
from .._wire.oauth import (
    DEFAULT_IMPLICIT_REDIRECT_URI,
    LAYOUTS,
    code_flow,
    join_scope,
    parse_callback,
    parse_fragment_token,
    parse_password_login,
    parse_token_response,
    password_flow,
    prepare_code_exchange,
    prepare_password_login,
    prepare_refresh,
    refresh_flow,
)
from .._wire.rest import (
    FORM_CONTENT_TYPE,
    RESERVED_PARAMS,
    describe_body,
    form_encode,
    parse_call_response,
    parse_json_body,
    prepare_call,
)
from .._wire.sign import (
    CIRCUITS,
    SESSION_CLASSES,
    UNSIGNED_PARAMS,
    Circuit,
    canonical_string,
    circuit_for,
    circuit_for_signing,
    server_secret,
    session_for,
    signing_secret,
    wire_params,
    wire_value,
)
from ..bots._flows import BotCore
from ..bots._graph import GRAPH_CONTENT_TYPE, parse_graph_response, prepare_graph
from ..bots._sessions import BOT_OPTIONS, AsyncBotBase, BotSessionSpec, SyncBotBase
from ._api import API
from ._sessions import AsyncSessionBase, SyncSessionBase
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

__all__ = [
    "ACCEPT_ENCODING",
    "API",
    "BOT_OPTIONS",
    "CIRCUITS",
    "CORE_OPTIONS",
    "DECODED_CODINGS",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_IMPLICIT_REDIRECT_URI",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "FORM_CONTENT_TYPE",
    "GRAPH_CONTENT_TYPE",
    "LAYOUTS",
    "MAX_CODINGS",
    "MAX_DIALOG_STEPS",
    "MULTIPART_LIMIT",
    "PHOTO_IDS_PLACEHOLDER",
    "RESERVED_PARAMS",
    "RESUMABLE_THRESHOLD",
    "SECRET_PARAM_NAMES",
    "SESSION_CLASSES",
    "UNSIGNED_PARAMS",
    "UPLOAD_STEPS",
    "VIDEO_STEPS",
    "AppSessionSpec",
    "AsyncBotBase",
    "AsyncSessionBase",
    "BodyDecoder",
    "BotCore",
    "BotSessionSpec",
    "Callback",
    "Circuit",
    "Claim",
    "ClientSessionSpec",
    "CodeGrant",
    "CodeSessionSpec",
    "CookieJar",
    "Effect",
    "Flow",
    "Form",
    "Grant",
    "GrantContext",
    "ImplicitGrant",
    "ImplicitSessionSpec",
    "Inflater",
    "Measure",
    "OnToken",
    "OnceStore",
    "Page",
    "Pager",
    "PasswordGrant",
    "PasswordSessionSpec",
    "PhotoFile",
    "PhotoSource",
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
    "SourceFingerprint",
    "SourceQuery",
    "SourceRange",
    "StoreCall",
    "StreamedBody",
    "SyncBotBase",
    "SyncSessionBase",
    "UploadStatus",
    "ValueStore",
    "build_multipart",
    "canonical_string",
    "check_base_url",
    "circuit_for",
    "circuit_for_signing",
    "code_flow",
    "commit_params",
    "content_range",
    "decode_body",
    "describe_body",
    "fill_photo_ids",
    "form_encode",
    "guarded",
    "implicit_flow",
    "join_scope",
    "mask_query",
    "mask_upload_url",
    "multipart_body",
    "parse_call_response",
    "parse_callback",
    "parse_commit",
    "parse_forms",
    "parse_fragment_token",
    "parse_graph_response",
    "parse_json_body",
    "parse_password_login",
    "parse_token_response",
    "parse_upload_reply",
    "parse_upload_status",
    "parse_upload_url",
    "parse_video_upload_url",
    "password_flow",
    "plan_blocks",
    "prepare_call",
    "prepare_code_exchange",
    "prepare_graph",
    "prepare_password_login",
    "prepare_refresh",
    "prepare_upload",
    "refresh_flow",
    "retrying",
    "reveal",
    "run_async",
    "run_sync",
    "sample_ranges",
    "scrub_error",
    "server_secret",
    "session_for",
    "signing_secret",
    "token_from_json",
    "token_to_json",
    "trusted_response",
    "upload_byte_budget",
    "upload_photos_flow",
    "upload_video_flow",
    "wire_params",
    "wire_value",
]

#: Names that left this namespace (okru 0.2): the adapters' file reading is I/O, so it lives in okru_io.
_ELSEWHERE = {"SourceReader": "okru_io", "describe_source": "okru_io", "source_size": "okru_io"}

TYPE_CHECKING = False  # not typing's: the type checker must not see __getattr__ (see okru_proto)
if not TYPE_CHECKING:
    from .._deprecation import relocated

    __getattr__ = relocated(__name__, _ELSEWHERE)
