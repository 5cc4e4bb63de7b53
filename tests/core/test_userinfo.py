"""No credentials in URLs (issue 11 item 7): ``user:password@`` is refused in every endpoint, in
upload URLs and in the URLs OK's dialogs send the flow to, and no message repeats the password."""

from __future__ import annotations

import pytest

from okru_proto import Endpoints, Error, ProtocolError, UploadError, UsageError
from okru_proto.adapter import Request, Response, implicit_flow, parse_upload_url, prepare_upload, run_sync

PASSWORD = "Pa55-w0rd-zz"


def _texts(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *map(repr, exc.args)])


@pytest.mark.parametrize("url", [
    f"https://user:{PASSWORD}@api.ok.ru",
    f"https://:{PASSWORD}@api.ok.ru",
    f"https://{PASSWORD}@api.ok.ru",
    "https://@api.ok.ru",
    f"http://user:{PASSWORD}@127.0.0.1:8080",
    f"ftp://user:{PASSWORD}@api.ok.ru",
    f"https://user:{PASSWORD}@api.ok.ru?x=1",
])
@pytest.mark.parametrize("field", ["api", "connect"])
def test_endpoints_refuse_userinfo_without_echoing_it(url: str, field: str) -> None:
    with pytest.raises(UsageError) as info:
        Endpoints(**{field: url})
    assert "user name or password" in str(info.value)
    assert PASSWORD not in _texts(info.value)


def test_at_sign_outside_the_authority_is_fine() -> None:
    assert Endpoints(api="https://api.ok.ru/a@b").api == "https://api.ok.ru/a@b"


@pytest.mark.parametrize("url", [
    f"https://user:{PASSWORD}@upload.ok.ru/upload?apiToken=T",
    "https://@upload.ok.ru/upload?apiToken=T",
])
def test_upload_urls_refuse_userinfo(url: str) -> None:
    with pytest.raises(UploadError) as info:
        prepare_upload(url, [b"\x89PNG\r\n\x1a\n...."], "b0undary")
    assert PASSWORD not in _texts(info.value) and "user name or password" in str(info.value)
    with pytest.raises(UploadError) as info:
        parse_upload_url({"photo_ids": ["p1"], "upload_url": url}, 1)
    assert PASSWORD not in _texts(info.value)


HTML = (("content-type", "text/html;charset=utf-8"),)
LOGIN_PAGE = ('<html><form method="post" action="{action}"><input name="fr.email">'
              '<input type="password" name="fr.password"></form></html>')


def _dialog(*replies: Response) -> tuple[Error, list[Request]]:
    sent: list[Request] = []
    queue = list(replies)

    def send(request: Request) -> Response:
        sent.append(request)
        return queue.pop(0)

    with pytest.raises(Error) as info:
        run_sync(implicit_flow("512", "user@example.com", "secret-pass", now=0.0), send, lambda s: None)
    return info.value, sent


@pytest.mark.parametrize("location", [
    f"https://user:{PASSWORD}@connect.ok.ru/dk?st.cmd=OAuth2Login",
    "https://@connect.ok.ru/dk?st.cmd=OAuth2Login",
    f"//x:{PASSWORD}@connect.ok.ru/dk",
])
def test_dialog_redirect_with_userinfo_is_refused(location: str) -> None:
    exc, sent = _dialog(Response(302, (("location", location),)))
    assert isinstance(exc, ProtocolError) and "user name or password" in str(exc)
    assert PASSWORD not in _texts(exc)
    assert len(sent) == 1  # nothing was sent to the URL with userinfo


def test_dialog_form_with_userinfo_is_refused_before_the_password_is_sent() -> None:
    page = LOGIN_PAGE.format(action=f"https://u:{PASSWORD}@connect.ok.ru/dk?st.cmd=OAuth2Login")
    exc, sent = _dialog(Response(302, (("location", "/dk?st.cmd=OAuth2Login"),)),
                        Response(200, HTML, page.encode()))
    assert isinstance(exc, ProtocolError) and PASSWORD not in _texts(exc)
    assert len(sent) == 2 and all(b"secret-pass" not in r.body for r in sent)
