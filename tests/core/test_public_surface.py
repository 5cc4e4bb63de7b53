"""okru_proto's four namespaces (issue 12 §2): the top level for applications, okru_proto.errors,
okru_proto.bots and okru_proto.adapter; the names that left the top level still resolve there,
with a DeprecationWarning, until okru 0.3. What needs other packages installed (names that left
for okru_asgi and okru_io, the error classes of every package) is in tests/surface/.

This file and tests/typing/check_surface.py are the places allowed to use the old spellings
(the scan below skips them).
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import okru_proto
import okru_proto.adapter
import okru_proto.bots
import okru_proto.errors

ROOT = Path(__file__).resolve().parents[2]
NAMESPACES = {"adapter": okru_proto.adapter, "bots": okru_proto.bots, "errors": okru_proto.errors}

#: okru_proto.__all__ before the split (okru 0.1): every one of these must keep resolving.
_BEFORE = """
    API ATTACHMENT_TYPES BOT_OPTIONS CIRCUITS CORE_OPTIONS DEFAULT_BLOCK_SIZE DEFAULT_CHUNK_SIZE
    DEFAULT_IMPLICIT_REDIRECT_URI DEFAULT_MAX_PAGES ERROR_CODES FILE_TYPES FORM_CONTENT_TYPE
    GRAPH_CONTENT_TYPE LAYOUTS MAX_ATTACHMENTS MAX_DIALOG_STEPS MULTIPART_LIMIT OK_WEBHOOK_NETWORKS
    PHOTO_IDS_PLACEHOLDER RESERVED_PARAMS RESUMABLE_THRESHOLD SECRET_PARAM_NAMES UNSIGNED_PARAMS
    UPLOAD_STEPS VIDEO_STEPS APIError AppSessionSpec AsyncBotBase AsyncSessionBase Attachment
    AuthLoginError BadCredentialsError BotCore BotInfo BotSessionSpec BotTokenError Button Callback
    CallbackPressed CaptchaRequiredError Chat ChatMessage ChatNotFoundError ChatSystemEvent
    ChatsPage Circuit ClientSessionSpec CodeGrant CodeSessionSpec CookieJar DedupWindow DialogError
    DirectSend Effect Endpoints Error ErrorCode FloodBlockedError Flow Form Grant HTTPStatusError
    HistoryPager HumanCheckRequiredError ImplicitGrant ImplicitSessionSpec InvalidSessionError
    LimitReachedError MessageCreated MethodNotFoundError NotSessionMethodError OAuthError OnToken
    Page Pager ParamError PasswordGrant PasswordSessionSpec PermissionDeniedError Photo PhotoSource
    ProtocolError PublicSessionSpec RefreshGrant RefreshNeeded RefreshSessionSpec
    ReloginRequiredError Request Response ResumeState RetryLaterError RetryPolicy Secret SentMessage
    ServerSessionSpec ServiceUnavailableError SessionCore SessionExpiredError SessionRequiredError
    SessionSpec SignatureError Sleep SourceRange StateMismatchError StoreCall StoreError StoredToken
    StreamedBody Subscription SyncBotBase SyncSessionBase Token TokenStore TransportError
    TransportTimeout UnknownEvent UploadError UploadStatus UploadTarget UploadedPhoto UploadedVideo
    UsageError VideoSource VideoUploadError WebhookApp WebhookError WebhookEvent
    api_error_from_payload authorize_url build_message build_multipart canonical_string circuit_for
    code_flow commit_params content_range describe_body event_key fill_photo_ids form_encode guarded
    implicit_flow join_scope keyboard mask_query mask_upload_url parse_call_response parse_callback
    parse_commit parse_forms parse_fragment_token parse_graph_response parse_json_body
    parse_password_login parse_token_response parse_upload_reply parse_upload_status
    parse_upload_url parse_video_upload_url parse_webhook password_flow photo_media plan_blocks
    prepare_call prepare_code_exchange prepare_graph prepare_password_login prepare_refresh
    prepare_upload refresh_flow reveal run_async run_sync scrub_error server_secret sign
    signing_secret token_from_json token_to_json upload_photos_flow upload_video_flow video_media
    webhook_app wire_params wire_value
"""
BEFORE = _BEFORE.split()

#: The base classes of the error tree that the top level keeps (an application catches these).
BASES = (
    okru_proto.Error, okru_proto.UsageError, okru_proto.TransportError, okru_proto.TransportTimeout,
    okru_proto.ProtocolError, okru_proto.HTTPStatusError, okru_proto.APIError, okru_proto.OAuthError,
    okru_proto.SessionExpiredError, okru_proto.ReloginRequiredError, okru_proto.RetryLaterError,
    okru_proto.UploadError, okru_proto.StoreError,
)
TOP = {
    "Token", "Secret", "Endpoints", "RetryPolicy", "sign", "authorize_url", "Photo", "UploadedPhoto",
    "photo_media", "VideoSource", "UploadedVideo", "ResumeState", "video_media", "TokenStore",
    "StoredToken", "parse_callback", "Page", "PhotoSource", "token_from_json", "token_to_json",
    "parse_webhook",
    *(cls.__name__ for cls in BASES),
}
MOVED = sorted(set(BEFORE) - set(okru_proto.__all__))


def test_the_top_level_is_small_and_is_the_decided_set() -> None:
    assert len(BEFORE) == 185 and len(set(BEFORE)) == 185
    assert len(okru_proto.__all__) < 45
    assert set(okru_proto.__all__) == TOP and len(okru_proto.__all__) == len(TOP) == 34
    assert set(okru_proto.__all__) <= set(BEFORE)  # nothing new appeared at the top


@pytest.mark.parametrize("module", [okru_proto, *NAMESPACES.values()], ids=lambda m: m.__name__)
def test_each_name_of_each_namespace_resolves(module) -> None:
    assert len(module.__all__) == len(set(module.__all__)), "a name listed twice"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a name in __all__ is never a deprecated alias
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    for name in module.__all__:
        assert name in dir(module), name


#: Former top-level names that left okru_proto altogether (okru 0.2): the ASGI app went to okru_asgi.
ELSEWHERE = {"webhook_app": "okru_asgi", "WebhookApp": "okru_asgi"}


def test_every_former_name_has_exactly_one_new_home() -> None:
    homes = {name: [ns for ns, module in NAMESPACES.items() if name in module.__all__] for name in MOVED
             if name not in ELSEWHERE}
    assert all(homes.values()), [name for name, found in homes.items() if not found]
    both = {name for name, found in homes.items() if len(found) > 1}
    # The Bot API errors are bot vocabulary and errors at once: the same objects in both.
    assert both == {"BotTokenError", "ChatNotFoundError", "WebhookError"}
    for name in both:
        assert okru_proto.bots.__dict__[name] is okru_proto.errors.__dict__[name]
    assert okru_proto._moved_names() == {name: found[0] if len(found) == 1 else "errors"
                                         for name, found in homes.items()}


@pytest.mark.parametrize("name", sorted(set(MOVED) - set(ELSEWHERE)))
def test_a_moved_name_warns_once_per_access_and_is_the_same_object(name: str) -> None:
    namespace = okru_proto._moved_names()[name]
    new = getattr(NAMESPACES[namespace], name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = getattr(okru_proto, name)
        second = getattr(okru_proto, name)
    assert first is new and second is new
    assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
    assert str(caught[0].message) == (f"okru_proto.{name} moved to okru_proto.{namespace}.{name}; "
                                      "the old name will be removed in okru 0.3")
    assert name not in dir(okru_proto)  # not cached: the next access warns again


def test_the_warning_points_at_the_users_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from okru_proto import prepare_call  # the old spelling, on purpose
        line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
        attribute = okru_proto.keyboard
    assert prepare_call is okru_proto.adapter.prepare_call
    assert attribute is okru_proto.bots.keyboard
    assert [(Path(w.filename).name, w.lineno) for w in caught] == [
        (Path(__file__).name, line), (Path(__file__).name, line + 2)]
    assert "okru_proto.adapter.prepare_call" in str(caught[0].message)


def test_unknown_names_still_raise_attribute_error() -> None:
    for name in ("nope", "GrantContext", "trusted_response", "_errors_", "__wrapped__"):
        with pytest.raises(AttributeError, match=f"no attribute {name!r}"):
            getattr(okru_proto, name)


_FROM_TOP = re.compile(r"^\s*from\s+okru_proto\s+import\s+(\([^)]*\)|[^\n]*)", re.MULTILINE)
_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _names_in(clause: str) -> set[str]:
    clause = re.sub(r"#[^\n]*", "", clause).strip("() \n")
    return {part.split(" as ")[0].strip() for part in clause.split(",") if part.strip()}


def test_nothing_imports_a_moved_name_from_the_top_level() -> None:
    moved, offenders = set(MOVED), []
    for path in sorted([*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py"),
                        *ROOT.joinpath("benchmarks").rglob("*.py"), *ROOT.joinpath("docs").rglob("*.py"),
                        ROOT / "noxfile.py", ROOT / "dev.py"]):
        if path in (Path(__file__).resolve(), ROOT / "tests/typing/check_surface.py"):
            continue  # the deprecation tests themselves
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "okru_proto" and node.level == 0:
                bad = {a.name for a in node.names} & moved
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "okru_proto":
                bad = {node.attr} & moved
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # code run in a subprocess
                bad = {n for m in _FROM_TOP.finditer(node.value) for n in _names_in(m.group(1))} & moved
            else:
                continue
            offenders += [f"{where}:{node.lineno}: {name}" for name in sorted(bad)]
    for path in [ROOT / "README.md", *sorted(ROOT.joinpath("docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for block in _FENCE.finditer(text):
            for match in _FROM_TOP.finditer(block.group(1)):
                line = text.count("\n", 0, block.start(1) + match.start()) + 1
                bad = _names_in(match.group(1)) & moved
                offenders += [f"{path.relative_to(ROOT)}:{line}: {name}" for name in sorted(bad)]
    assert not offenders, offenders


def test_the_scan_sees_each_form_it_looks_for() -> None:
    # The scan above would pass on an empty repository; its patterns must catch what they claim.
    sample = "x = 1\nfrom okru_proto import (\n    Token,  # kept\n    prepare_call as p,\n)\n"
    assert [_names_in(m.group(1)) for m in _FROM_TOP.finditer(sample)] == [{"Token", "prepare_call"}]
    doc = "text\n```python\nfrom okru_proto import sign, run_sync\n```\n"
    blocks = [b.group(1) for b in _FENCE.finditer(doc)]
    assert [_names_in(m.group(1)) for m in _FROM_TOP.finditer(blocks[0])] == [{"sign", "run_sync"}]


def test_import_okru_proto_loads_no_submodule() -> None:
    code = "import sys, okru_proto; print(sorted(m for m in sys.modules if m.startswith('okru_proto.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_init_stays_small() -> None:
    source = Path(okru_proto.__file__).read_text(encoding="utf-8")
    assert source.count("\n") < 400
    assert "over 400 lines" not in source


def test_a_name_no_namespace_ever_had_is_an_attribute_error() -> None:
    import okru_proto.adapter
    import okru_proto.bots

    for module in (okru_proto, okru_proto.adapter, okru_proto.bots):
        with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
            module.no_such_name  # noqa: B018
