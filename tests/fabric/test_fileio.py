"""Atomic file output (fabric.fileio): a failed write leaves the old file and no temporary one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fabric import fileio
from fabric.fileio import atomic_write_bytes, atomic_write_text, check_output_path


def test_writes_the_text_and_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert atomic_write_text(target, "héllo\n") == target
    assert target.read_bytes() == "héllo\n".encode()
    assert os.listdir(tmp_path) == ["out.json"]
    atomic_write_text(target, "second")  # replaces
    assert target.read_text() == "second"
    assert os.listdir(tmp_path) == ["out.json"]


def test_the_file_gets_the_usual_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640  # 0666 less the umask, not 0600


def _fail(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("where", ["replace", "write", "interrupt"])
def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    target = tmp_path / "report.html"
    target.write_text("old report")
    data: object = b"new report"
    expected: type[BaseException] = OSError
    if where == "replace":
        monkeypatch.setattr(fileio.os, "replace", _fail)
    elif where == "write":
        data = "not bytes"  # the file object's write raises TypeError half way
        expected = TypeError
    else:

        def interrupt(*args: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(fileio.os, "chmod", interrupt)
        expected = KeyboardInterrupt
    with pytest.raises(expected):
        atomic_write_bytes(target, data)  # type: ignore[arg-type]
    assert target.read_text() == "old report"
    assert os.listdir(tmp_path) == ["report.html"]


def test_a_failed_first_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fileio.os, "replace", _fail)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(tmp_path / "new.txt", "text")
    assert os.listdir(tmp_path) == []


def test_check_output_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_output_path(tmp_path / "a.txt") == tmp_path / "a.txt"
    monkeypatch.chdir(tmp_path)
    assert check_output_path("a.txt") == Path("a.txt")  # the current folder
    with pytest.raises(ValueError, match="folder '.*nowhere' does not exist"):
        check_output_path(tmp_path / "nowhere" / "a.txt")
    with pytest.raises(ValueError, match="it is a folder"):
        check_output_path(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        atomic_write_text(tmp_path / "nowhere" / "a.txt", "x")
