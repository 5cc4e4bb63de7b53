"""``okru upload-video`` against the loopback emulator: upload + post, and a give-up that saves
the resume state (private file, masked output) and the ``--resume`` that finishes it."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from okru._cli import run
from okru_proto.testing import FakeOK
from okru_trio.testing import run_fake_server


def _args(fake: FakeOK, url: str, token: str) -> list[str]:
    return ["--app-id", fake.app_id, "--app-key", fake.app_key, "--app-secret-key", fake.app_secret_key,
            "--access-token", token, "--api-url", url]


def test_upload_and_post(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = hashlib.shake_256(b"v").digest(40 * 1024)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    fake = FakeOK()
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]
    with run_fake_server(fake) as url:
        code = run(["upload-video", str(path), "--title", "Clip", "--post", "hello", *_args(fake, url, token)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and fake.videos[out["video_id"]].data == data
    assert fake.topics[-1].attachment["media"][1] == {"type": "movie", "list": [{"id": out["video_id"]}]}


def test_give_up_saves_state_and_resume_finishes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = hashlib.shake_256(b"w").digest(3 * 2**20 + 5)
    path = tmp_path / "big.mp4"
    path.write_bytes(data)
    fake = FakeOK()
    token = fake.issue_token(scope=["VALUABLE_ACCESS", "VIDEO_CONTENT"])["access_token"]
    from okru_httpx.sync import HttpxSession

    monkeypatch.setattr(HttpxSession, "_sleep", staticmethod(lambda seconds: None))
    for _ in range(7):
        fake.inject_video("http_500")
    with run_fake_server(fake) as url:
        fake.inject_video("drop", at=2**20 + 10)
        code = run(["upload-video", str(path), "--title", "Big", "--chunk-size", "1", *_args(fake, url, token)])
        err = capsys.readouterr().err
        state_file = f"{path}.okru-resume.json"
        assert code != 0 and "--resume" in err and state_file in err
        assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
        upload_token = json.loads(Path(state_file).read_text())["upload_url"].rpartition("apiToken=")[2]
        assert upload_token not in err
        fake.clear_faults()
        fake.video_store.faults.clear()
        code = run(["upload-video", str(path), "--title", "Big", "--resume", state_file, *_args(fake, url, token)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and fake.videos[out["video_id"]].data == data and not os.path.exists(state_file)
