"""``async def`` tests with okru's fixtures (okru issue 21), in a user's project run by pytester:
the anyio marker runs them on asyncio and trio; an unmarked one fails saying how to mark it."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]


def _run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_user_project=textwrap.dedent(source))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rA")


def test_the_anyio_marker_runs_okru_tests_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        import sniffio
        import pytest

        import okru_httpx
        import okru_trio

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        async def test_httpx(ok_session_factory, ok_app, ok_token, anyio_backend):
            assert sniffio.current_async_library() == anyio_backend
            async with ok_session_factory(okru_httpx.ServerSession, ok_app.app_id, ok_app.app_key,
                                          ok_app.app_secret_key, ok_token["access_token"]) as session:
                assert len(await okru_httpx.API(session).friends.get()) == 3

        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", ["trio"])
        async def test_trio_adapter(fake_ok_server, ok_app):
            assert sniffio.current_async_library() == "trio"
            async with okru_trio.PasswordSession(ok_app.app_id, ok_app.app_key, None, ok_app.user_login,
                                                 ok_app.user_password, endpoints=fake_ok_server.endpoints) as s:
                assert (await okru_trio.API(s).users.getCurrentUser())["uid"] == ok_app.user_id
    """)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["PASSED *test_httpx?asyncio?", "PASSED *test_httpx?trio?",
                                 "PASSED *test_trio_adapter?trio?"])


def test_a_module_marker_covers_every_test(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        import pytest

        pytestmark = pytest.mark.anyio

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        async def test_one(fake_ok, ok_token):
            assert ok_token["access_token"] in fake_ok.tokens

        async def test_two(ok_app):
            assert ok_app.endpoints.api.endswith(".invalid")
    """)
    result.assert_outcomes(passed=2)


def test_an_unmarked_async_test_says_how_to_mark_it(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        async def test_forgot_the_marker(fake_ok):
            assert False, "never runs"

        async def test_not_okru():
            pass
    """)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*test_forgot_the_marker is an async def test using okru's fixtures*"
                                 "@pytest.mark.anyio*"])
    assert "never runs" not in result.stdout.str()
    # A test that uses none of okru's fixtures is left to pytest's own handling.
    assert "test_not_okru is an async def test" not in result.stdout.str()
