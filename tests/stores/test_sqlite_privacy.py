"""The SQLite store's file is private (issue 20, item 12; docs/tokens.md "mode 0600"): made
0600, never reached through a link (the database or SQLite's companion files), another user's
file refused, an existing 0644 file of ours fixed, a world-writable directory refused; and the
file swapped for a link after the store was built is caught at the next operation."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from okru_proto import Secret, StoreError, Token
from okru_stores import SQLiteStore

TOKEN = Token(access_token=Secret("acc"), refresh_token=Secret("refresh-secret"))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_file_is_0600_and_so_are_sqlites_files(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    old = os.umask(0)  # the most permissive umask: the mode must not come from it
    try:
        store = SQLiteStore(path)
        assert store.compare_and_set("k", TOKEN, 0)
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    for companion in tmp_path.glob("t.sqlite3-*"):
        assert mode(companion) & 0o077 == 0, companion


def test_an_existing_0644_file_of_ours_is_made_0600_with_a_warning(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "t.sqlite3"
    path.touch()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="okru"):
        store = SQLiteStore(path)
    assert mode(path) == 0o600
    assert any("0644 -> 0600" in r.getMessage() for r in caplog.records)
    assert store.compare_and_set("k", TOKEN, 0)


def test_a_link_at_the_path_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "attacker.db"
    target.touch()
    target.chmod(0o666)
    link = tmp_path / "t.sqlite3"
    link.symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        SQLiteStore(link)
    assert target.stat().st_size == 0 and mode(target) == 0o666


def test_a_dangling_link_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    link = tmp_path / "t.sqlite3"
    link.symlink_to(tmp_path / "would-be-created.db")
    with pytest.raises(StoreError, match="symbolic link"):
        SQLiteStore(link)
    assert not (tmp_path / "would-be-created.db").exists()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_link_planted_as_a_companion_file_is_refused(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / "attacker"
    target.touch()
    (tmp_path / f"t.sqlite3{suffix}").symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        SQLiteStore(tmp_path / "t.sqlite3")
    assert target.stat().st_size == 0


def test_another_users_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.sqlite3"
    path.touch()
    path.chmod(0o644)
    if os.geteuid() == 0:
        os.chown(path, 12345, 12345)  # really another user's file (the suite runs as root in CI)
        owner = 12345
    else:
        owner = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: owner + 1)  # this process is "someone else"
    with pytest.raises(StoreError, match=f"belongs to user id {owner}"):
        SQLiteStore(path)
    assert os.stat(path).st_uid == owner and mode(path) == 0o644  # not ours to fix


def test_a_world_writable_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    with pytest.raises(StoreError, match="every user can write"):
        SQLiteStore(shared / "t.sqlite3")
    assert not (shared / "t.sqlite3").exists()


def test_a_directory_is_not_a_store_file(tmp_path: Path) -> None:
    (tmp_path / "t.sqlite3").mkdir()
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "t.sqlite3")


def test_a_file_swapped_for_a_link_after_start_is_caught_at_the_next_operation(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    store = SQLiteStore(path)
    assert store.compare_and_set("k", TOKEN, 0)
    target = tmp_path / "attacker.db"
    target.touch()
    target.chmod(0o666)
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        store.load("k")
    with pytest.raises(StoreError, match="symbolic link"):
        store.claim("p", "h", 10)
    assert target.stat().st_size == 0


def test_a_file_deleted_after_start_is_made_again_private(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    store = SQLiteStore(path)
    assert store.compare_and_set("k", TOKEN, 0)
    for name in tmp_path.glob("t.sqlite3*"):
        name.unlink()
    store.set_value("v", "x")  # a fresh file, checked again: 0600 (SQLite alone would use the umask)
    assert mode(path) == 0o600 and store.get_value("v") == "x"
