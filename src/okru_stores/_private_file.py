"""The SQLite store's file is private: everything that decides whether okru may keep refresh
tokens in a file lives here.

A store file holds refresh tokens (long-lived credentials), so okru creates it mode 0600 and,
for a file that already exists, never trusts the path blindly:

* it is opened without following a symbolic link (``O_NOFOLLOW``): a link planted at the path
  would otherwise lead okru to write tokens into a file someone else can read;
* it must be a regular file owned by the user this process runs as; a file of ours that others
  may read (e.g. 0644, made by ``touch`` or a copy) is made 0600, with a WARNING; what okru cannot
  fix (a link, another owner's file, a mode it cannot change) is refused with
  :class:`~okru_proto.StoreError` saying what to do;
* SQLite's companion files (``-wal``, ``-shm``, ``-journal``) get the same checks when present,
  and the directory must not be writable by every user: there, anyone could plant a companion
  file (a link) between two operations, since SQLite creates and deletes them as it goes.

:func:`identity` is what each operation re-checks (one ``lstat``): when the file at the path is
no longer the one checked (replaced, or deleted and made again), the checks run again.
"""

from __future__ import annotations

import logging
import os
import stat

from okru_proto._store import StoreError

__all__ = ["COMPANIONS", "identity", "make_private"]

log = logging.getLogger("okru")

#: SQLite's files next to the database (WAL mode: -wal, -shm; a journal while switching modes).
COMPANIONS = ("-wal", "-shm", "-journal")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def identity(path: str) -> tuple[int, int, int] | None:
    """``(device, inode, file type)`` of what is at ``path`` (not following a link), or None if
    absent. The type is part of it: a link made where the file was may get its freed inode."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode)


def make_private(path: str) -> tuple[int, int, int]:
    """Create ``path`` mode 0600 if missing, or check (and fix) the one there; its identity."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        where = os.stat(directory)
    except OSError as exc:
        raise StoreError(f"cannot use the directory of the store file {path!r}: {exc.strerror}") from exc
    if where.st_mode & stat.S_IWOTH:
        raise StoreError(f"the store file {path!r} is in a directory every user can write "
                         f"({directory!r}, mode {stat.S_IMODE(where.st_mode):04o}): anyone could plant a "
                         f"link where SQLite writes; put it in a directory only this app can write, "
                         f"e.g. /var/lib/<app> mode 0700")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise StoreError(f"the store file {path!r} is a symbolic link: okru does not follow links "
                             f"for a file that holds tokens; give the real path "
                             f"({os.path.realpath(path)!r}) if that file is yours") from exc
        raise StoreError(f"cannot create the store file {path!r}: {exc.strerror}") from exc
    try:
        st = _checked(path, fd, "store file")
    finally:
        os.close(fd)
    for suffix in COMPANIONS:
        _check_companion(path + suffix)
    return st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode)


def _checked(path: str, fd: int, what: str) -> os.stat_result:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"the {what} {path!r} is not a regular file")
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and st.st_uid != geteuid():
        raise StoreError(f"the {what} {path!r} belongs to user id {st.st_uid}, not to the user this "
                         f"process runs as ({geteuid()}): okru keeps tokens only in its own files; "
                         f"remove it or run as its owner")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        fchmod = getattr(os, "fchmod", None)
        if fchmod is None:  # pragma: no cover - Windows: no POSIX modes to fix
            return st
        try:
            fchmod(fd, 0o600)
        except OSError as exc:
            raise StoreError(f"the {what} {path!r} is readable by others (mode {mode:04o}) and okru "
                             f"could not make it 0600: {exc.strerror}") from exc
        log.warning("okru_stores: made %s private (mode %04o -> 0600): it holds tokens", path, mode)
    return st


def _check_companion(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return  # SQLite creates it with the database file's mode
    except OSError as exc:
        if os.path.islink(path):
            raise StoreError(f"SQLite's file {path!r} next to the store is a symbolic link: okru "
                             f"refuses it (tokens would be written where it points); remove it") from exc
        raise StoreError(f"cannot check SQLite's file {path!r}: {exc.strerror}") from exc
    try:
        _checked(path, fd, "SQLite file")
    finally:
        os.close(fd)
