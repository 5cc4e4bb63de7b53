"""`okru login` in a real (headless) Chromium against the emulator's dialog pages.

Each test reads what a person would read on each page (and saves a screenshot of it), clicks
what a person would click, and checks what the terminal says and what was stored.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from okru_proto.testing import FakeOK

from .conftest import Page

pytestmark = pytest.mark.browser

Server = tuple[FakeOK, str]


def log_in(page: Page, fake: FakeOK, password: str | None = None) -> None:
    """OK's login page: type the login and password into the labelled fields, press Войти."""
    page.wait_text("Вход через Одноклассники")
    page.field("Логин, адрес почты или телефон").clear()
    page.field("Логин, адрес почты или телефон").send_keys(fake.user_login)
    page.field("Пароль").send_keys(password or fake.user_password)
    page.shot("login-filled")
    page.click_button("Войти")


def permissions(page: Page) -> str:
    text = page.wait_text("запрашивает доступ")
    page.shot("permissions")
    assert "Приложение «Test application» запрашивает доступ" in text
    assert "Вы вошли как Demo User" in text
    assert "Основные данные профиля и большинство методов API (VALUABLE_ACCESS)" in text
    assert "Фотографии и фотоальбомы (PHOTO_CONTENT)" in text
    return text


def test_allow(page: Page, server: Server, start_login: Any) -> None:
    fake, _ = server
    login = start_login("--scope", "VALUABLE_ACCESS;PHOTO_CONTENT")
    page.driver.get(login.authorize_url())
    page.shot("login")
    log_in(page, fake)
    permissions(page)
    page.click_button("Войти")
    text = page.wait_text("Logged in as")
    page.shot("outcome")
    assert "Logged in as Demo User (uid 571000000001)" in text
    assert "return to the terminal" in text
    code, out, err = login.finish()
    assert code == 0, out + err
    assert "Logged in as Demo User (uid 571000000001)" in out
    stored = json.loads(login.stored().read_text())
    assert stored["access_token"] in fake.tokens and stored["refresh_token"] in fake.refresh_tokens


def test_deny(page: Page, server: Server, start_login: Any) -> None:
    fake, _ = server
    login = start_login("--scope", "VALUABLE_ACCESS;PHOTO_CONTENT")
    page.driver.get(login.authorize_url())
    log_in(page, fake)
    permissions(page)
    page.click_button("Отменить")  # {redirect_uri}#error=access_denied: a fragment
    text = page.wait_text("Login cancelled")
    page.shot("cancelled")
    assert "You declined access on OK.ru, so okru stored nothing." in text
    assert "Return to the terminal" in text
    assert parse_qs(urlsplit(page.driver.current_url).query) == {"error": ["access_denied"]}
    code, out, err = login.finish()
    assert code == 3, out + err
    assert "access denied in the browser" in err and "secret" not in err and "state" not in err
    assert not login.stored().exists()


def test_wrong_password_then_retry(page: Page, server: Server, start_login: Any) -> None:
    fake, _ = server
    login = start_login()
    page.driver.get(login.authorize_url())
    log_in(page, fake, password="not-the-password")
    page.wait_text("Неправильно указан логин и/или пароль")
    page.shot("wrong-password")
    assert page.field("Логин, адрес почты или телефон").get_attribute("value") == fake.user_login
    assert page.field("Пароль").get_attribute("value") == ""
    log_in(page, fake)
    assert "Основные данные профиля" in page.wait_text("запрашивает доступ")
    page.shot("permissions")
    page.click_button("Войти")
    assert "Logged in as Demo User" in page.wait_text("Logged in as")
    page.shot("outcome")
    code, out, err = login.finish()
    assert code == 0, out + err
    assert "not-the-password" not in out + err


def test_browser_closed_times_out(page: Page, server: Server, start_login: Any) -> None:
    login = start_login("--timeout", "3")
    page.driver.get(login.authorize_url())
    page.wait_text("Вход через Одноклассники")
    page.shot("login")
    page.driver.quit()  # the person closes the browser
    code, out, err = login.finish()
    assert code == 3, out + err
    assert "no callback from the browser within 3 s" in err and "--timeout" in err
    assert not login.stored().exists()


def test_forged_callback_before_the_real_one(page: Page, server: Server, start_login: Any) -> None:
    fake, _ = server
    login = start_login()
    authorize = login.authorize_url()
    redirect_uri = parse_qs(urlsplit(authorize).query)["redirect_uri"][0]
    page.driver.get(f"{redirect_uri}?code=forged-code&state=an-old-login")
    text = page.wait_text("Not this login")
    page.shot("forged")
    assert "another login attempt" in text and "still waiting" in text
    page.driver.get(authorize)
    log_in(page, fake)
    page.wait_text("запрашивает доступ")
    page.click_button("Войти")
    assert "Logged in as Demo User" in page.wait_text("Logged in as")
    page.shot("outcome")
    code, out, err = login.finish()
    assert code == 0, out + err
    assert login.stored().exists()


def test_token_endpoint_failing(page: Page, server: Server, start_login: Any) -> None:
    fake, _ = server
    fake.inject("http_502", method="/oauth/token.do", times=None)
    login = start_login()
    page.driver.get(login.authorize_url())
    log_in(page, fake)
    page.wait_text("запрашивает доступ")
    page.click_button("Войти")
    text = page.wait_text("Login failed")
    page.shot("outcome")
    assert "Logged in" not in text and "Nothing was stored" in text and "What to do:" in text
    code, out, err = login.finish()
    assert code == 4, out + err
    terminal = err.strip().removeprefix("okru: error: ").split(" — ")[0]
    assert terminal and terminal in text  # the browser shows the terminal's own message
    assert not login.stored().exists()


def test_deny_with_a_redirect_uri_that_has_a_query(page: Page, server: Server, start_login: Any) -> None:
    fake, _ = server
    with socket.socket() as probe:  # a free port for the registered-style redirect URI
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    login = start_login("--redirect-uri", f"http://127.0.0.1:{port}/ok/callback?app=okru")
    page.driver.get(login.authorize_url())
    log_in(page, fake)
    page.wait_text("запрашивает доступ")
    page.click_button("Отменить")  # .../ok/callback?app=okru#error=access_denied
    assert "Login cancelled" in page.wait_text("Login cancelled")
    page.shot("cancelled")
    assert parse_qs(urlsplit(page.driver.current_url).query) == {"app": ["okru"], "error": ["access_denied"]}
    code, out, err = login.finish()
    assert code == 3 and "access denied in the browser" in err, out + err
