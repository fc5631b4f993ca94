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
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="folder '.*afile' is a file, not a folder"):
        check_output_path(tmp_path / "afile" / "a.txt")


# ------------------------------------------------------------------- edge cases (issue 12, 8)


def test_a_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.html", "real.html"]


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "made.txt")
    atomic_write_text(link, "x")
    assert link.is_symlink() and (tmp_path / "made.txt").read_text() == "x"


def test_the_mode_of_an_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "plan.html"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert target.stat().st_mode & 0o7777 == 0o640
    assert target.read_text() == "new"


def test_a_read_only_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "plan.html"
    target.write_text("old")
    target.chmod(0o444)
    with pytest.raises(ValueError, match=r"'.*plan\.html'.*read-only"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert target.stat().st_mode & 0o7777 == 0o444
    assert os.listdir(tmp_path) == ["plan.html"]


def test_an_error_at_the_rename_names_the_target_not_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "plan.html"

    def refuse(src: str, dst: object) -> None:  # what os.replace onto an immutable file raises
        raise PermissionError(1, "Operation not permitted", src, str(dst))

    monkeypatch.setattr(fileio.os, "replace", refuse)
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "x")
    assert info.value.strerror == f"cannot write {str(target)!r}: Operation not permitted"
    assert ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_an_immutable_target_is_named(tmp_path: Path) -> None:
    import shutil
    import subprocess

    target = tmp_path / "plan.html"
    target.write_text("old")
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(target)],
                                         capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs)")
    try:
        with pytest.raises((OSError, ValueError)) as info:
            atomic_write_text(target, "new")
        assert str(target) in str(info.value) and ".tmp" not in str(info.value)
        assert os.listdir(tmp_path) == ["plan.html"]
    finally:
        subprocess.run([chattr, "-i", str(target)], check=True)


def test_the_data_and_the_folder_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: object) -> None:
        calls.append("replace")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    monkeypatch.setattr(fileio.os, "replace", replace)
    atomic_write_text(tmp_path / "f.txt", "x")
    assert calls == ["fsync-file", "replace", "fsync-folder"]


def test_sigterm_during_the_write_leaves_no_temporary(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    target = tmp_path / "plan.html"
    target.write_text("old")
    # a real SIGTERM, delivered by the process to itself just before the rename
    script = (
        "import os, signal, sys\n"
        "from fabric import fileio\n"
        "real = os.replace\n"
        "def replace(src, dst):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    real(src, dst)\n"
        "fileio.os.replace = replace\n"
        f"fileio.atomic_write_bytes({str(target)!r}, b'x' * 5_000_000)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["plan.html"]


def test_a_pipe_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    """A target that is no regular file (a named pipe here; /dev/null, /dev/stdout alike) is
    written as it is: renaming over it would turn it into a file (as root, over a device)."""
    import stat
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()), daemon=True)
    reader.start()
    atomic_write_text(pipe, "records\n")
    reader.join(timeout=10)
    assert got == [b"records\n"]
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)  # still the pipe
    assert sorted(os.listdir(tmp_path)) == ["pipe"]  # no temporary file, no new file


def test_an_input_is_never_the_output(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("data\n")
    link = tmp_path / "link.log"
    link.symlink_to(log)
    for out in (log, link, tmp_path / "." / "run.log"):
        with pytest.raises(ValueError, match="one of the inputs .* would be overwritten"):
            check_output_path(out, inputs=[tmp_path / "other", None, log])
    assert log.read_text() == "data\n"
    assert check_output_path(tmp_path / "new.jsonl", inputs=[log]) == tmp_path / "new.jsonl"
    with pytest.raises(ValueError, match="give a file name"):
        check_output_path("-")


def test_dev_stdout_is_the_descriptor_the_process_holds(tmp_path: Path) -> None:
    """-o /dev/stdout with stdout appended to a file adds to that file (its earlier lines and
    inode kept); it was renamed over, losing them."""
    import subprocess
    import sys

    out = tmp_path / "app.txt"
    out.write_text("OLD\n")
    inode = out.stat().st_ino
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from fabric.fileio import "
            "atomic_write_text; atomic_write_text('/dev/stdout', 'records\\n')")
    root = str(Path(__file__).resolve().parents[2])
    with out.open("a") as handle:
        subprocess.run([sys.executable, "-c", code, root], stdout=handle, check=True)
    assert out.read_text() == "OLD\nrecords\n" and out.stat().st_ino == inode


def test_sockets_and_block_devices_are_refused(tmp_path: Path) -> None:
    import socket
    import stat

    sock = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock))
        with pytest.raises(ValueError, match="it is a socket, not a file"):
            check_output_path(sock)
    finally:
        server.close()
    if os.geteuid() == 0:  # a block node of a device no driver has: never written either way
        block = tmp_path / "blk"
        os.mknod(block, stat.S_IFBLK | 0o600, os.makedev(259, 1048575))
        with pytest.raises(ValueError, match="it is a block device"):
            atomic_write_text(block, "x")
        assert stat.S_ISBLK(os.stat(block).st_mode)


def test_a_failed_measurement_removes_only_its_own_empty_file(tmp_path: Path) -> None:
    """A probe run that wrote no record removes its output file; a pipe or device given as
    the output is left alone (as root, -o /dev/null unlinked /dev/null on a failed run)."""
    import stat
    import threading

    from fabric.cli.measure import _Output

    plain = tmp_path / "r.jsonl"
    out = _Output(str(plain), False, "t")
    out.abandon()
    assert not plain.exists()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reader = threading.Thread(target=pipe.read_bytes, daemon=True)
    reader.start()
    out = _Output(str(pipe), False, "t")
    out.abandon()
    reader.join(timeout=10)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_records_stream_into_a_pipe(tmp_path: Path) -> None:
    """A probe's records file may be a pipe or /dev/null, where fsync fails (EINVAL): the
    first record failed the run, which then unlinked the output."""
    import threading

    from measure.records import Record, RecordWriter

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()), daemon=True)
    reader.start()
    writer = RecordWriter(pipe)
    writer.write(Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=2,
                        num_hosts=1))
    writer.close()
    reader.join(timeout=10)
    assert got and got[0].count(b"\n") == 1
