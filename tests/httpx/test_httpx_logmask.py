"""okru_httpx's log filter, line by line: what it masks in httpx's and httpcore's own lines, and
what it leaves (issue 20 item 10, issue 21 "Secrets"). The hostile-server tests in
tests/security drive the same lines through real sessions."""

from __future__ import annotations

import logging

import pytest

from okru_httpx._logfilter import RedactCredentials, mask_line, mask_url_query


@pytest.mark.parametrize(("line", "masked"), [
    ('HTTP Request: POST https://vu.mycdn.me/upload.do?sig=S3cr&expires=1531849335513&clientType=3&id=22 '
     '"HTTP/1.1 200 OK"',
     'HTTP Request: POST https://vu.mycdn.me/upload.do?sig=***&expires=***&clientType=***&id=*** '
     '"HTTP/1.1 200 OK"'),
    ('HTTP Request: POST https://fu.mycdn.me/api/UPLOAD.DO?x=1 "HTTP/1.1 200 OK"',
     'HTTP Request: POST https://fu.mycdn.me/api/UPLOAD.DO?x=*** "HTTP/1.1 200 OK"'),
    ('HTTP Request: GET https://api.ok.ru/fb.do?method=users.get&access_token=t%3A1&sig=abc "HTTP/1.1 200 OK"',
     'HTTP Request: GET https://api.ok.ru/fb.do?method=users.get&access_token=***&sig=*** "HTTP/1.1 200 OK"'),
    ('HTTP Request: GET https://api.ok.ru/fb.do?design=x "HTTP/1.1 500 Internal Server Error"',
     'HTTP Request: GET https://api.ok.ru/fb.do?design=x "HTTP/1.1 500 Internal Server Error"'),
    ('HTTP Request: GET https://api.ok.ru/graph/me/info?access_token=*** "HTTP/1.1 500 tkn1 echoed"',
     'HTTP Request: GET https://api.ok.ru/graph/me/info?access_token=*** "HTTP/1.1 500 ***"'),
    ("receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'Content-Type', "
     "b'application/json;charset=utf-8'), (b'Content-Length', b'12'), (b'X-Echo', b\"it's tkn1\"), "
     "(b'Server', b'nginx'), (b'Content-Encoding', b'gzip, tkn1')])",
     "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'Content-Type', "
     "b'application/json;charset=utf-8'), (b'Content-Length', b'12'), (b'X-Echo', b'***'), "
     "(b'Server', b'***'), (b'Content-Encoding', b'***')])"),
    ("receive_response_headers.complete return_value=(b'HTTP/1.1', 302, b'tkn1', [(b'Location', "
     "b'https://x/cb#access_token=abc&session_secret_key=def')])",
     "receive_response_headers.complete return_value=(b'HTTP/1.1', 302, b'***', [(b'Location', b'***')])"),
    ("receive_response_headers.failed exception=RemoteProtocolError(RemoteProtocolError("
     "\"illegal header line: bytearray(b'X: tkn1\\\\x00')\"))",
     "receive_response_headers.failed exception=RemoteProtocolError(RemoteProtocolError("
     "\"illegal header line: bytearray(b'***')\"))"),
    ("connect_tcp.started host='api.ok.ru' port=443 local_address=None timeout=10.0 socket_options=None",
     "connect_tcp.started host='api.ok.ru' port=443 local_address=None timeout=10.0 socket_options=None"),
])
def test_mask_line(line: str, masked: str) -> None:
    assert mask_line(line) == masked


def test_mask_url_query_keeps_the_rest_as_sent() -> None:
    assert mask_url_query("/fb.do", "fields=a%2Cb&access_token=t%3A1&xsig=1") == "fields=a%2Cb&access_token=***&xsig=1"
    assert mask_url_query("/api/upload.do", "sig=a&id=1&flag") == "sig=***&id=***&flag"
    assert mask_url_query("/fb.do", "") == ""


def test_the_filter_rewrites_only_what_changes() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"',
                               ("POST", "http://h/upload.do?sig=S&expires=1", "HTTP/1.1", 200, "OK"), None)
    assert RedactCredentials().filter(record)
    assert record.getMessage() == 'HTTP Request: POST http://h/upload.do?sig=***&expires=*** "HTTP/1.1 200 OK"'
    plain = logging.LogRecord("httpx", logging.INFO, __file__, 1, "%s", ("nothing to mask",), None)
    assert RedactCredentials().filter(plain) and plain.args == ("nothing to mask",)
