"""Atomic file output: write to a temporary file in the target folder, then rename.

An interrupted run never leaves half a file, and a failed run leaves no file at all. The
behaviour at the edges is chosen, not accidental:

- **Symlinks are followed.** ``-o link`` writes the file the link points to (through the whole
  chain of links) and leaves the link in place; the temporary file sits in the real file's
  folder, so the rename stays on one file system.
- **Read-only targets are refused.** An existing file the user cannot write, or one with no
  write bit at all (``chmod a-w``, refused even for root), is an error naming it, as ``cp``
  and shell redirection treat it; it is not replaced.
- **The mode is kept.** Replacing an existing file keeps its permission bits; a new file gets
  ``0666`` less the umask (``mkstemp`` alone would give ``0600``).
- **Durability.** The data is ``fsync``-ed before the rename and the folder after it, so after
  a crash the target holds either the old or the new bytes, never an empty file.
- **No temporary file is left** on any exit Python sees: an exception, Ctrl-C, or SIGTERM
  (turned into ``SystemExit(143)`` while a write is in progress, when no other SIGTERM handler
  is installed). Only SIGKILL or a power loss can leave a ``.NAME.XXXX.tmp`` next to the
  target; it is never read as output.
- **Errors name the target**, not the temporary file (``os.replace`` onto an immutable file
  would name both).
- **Pipes and terminals are written, not replaced; other devices are refused.** ``/dev/stdout``,
  ``/dev/stderr`` and ``/dev/fd/N`` are written through the descriptor the process already
  holds (whatever it points to: a pipe, a terminal, a file it appends to, a socket), never
  reopened or renamed over. A named pipe, ``/dev/null`` or a terminal is opened and written in
  place: renaming over it would turn the node into a file (as root, ``-o /dev/null`` would have
  broken ``/dev/null`` for the whole machine). Such writes are not atomic; there are no old
  bytes to keep. Block devices, sockets and other character devices are refused.
- **An input is never the output.** Commands pass the files they read
  (:func:`check_output_path`'s ``inputs``); ``-o`` naming one of them is refused before
  anything runs, instead of replacing a log with its own records. ``-`` is refused: it would
  otherwise create a file named ``-``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_text", "atomic_write_bytes", "check_output_path", "descriptor_of"]


def check_output_path(path: str | Path, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Return ``path`` as a Path if it can be written; raise ValueError naming the problem.

    ``inputs`` are the files the command reads: writing over one of them is refused.

    Raises
    ------
    ValueError
        If the path is ``-``, the folder does not exist, the path is a folder, an existing
        file is read-only, or the path is one of ``inputs`` (the same file by another name
        or link too).
    """
    if str(path) == "-":
        raise ValueError("cannot write '-': give a file name")
    if descriptor_of(path) is not None:
        return Path(path)
    path = Path(path)
    real = Path(os.path.realpath(path))
    for given in inputs:
        if given is None or str(given) == "":
            continue
        try:
            same = real.exists() and os.path.samefile(real, given)
        except OSError:  # an input that is not there: the command says so itself
            same = False
        if same:
            raise ValueError(f"cannot write {str(path)!r}: it is one of the inputs "
                             f"({str(given)!r}) and would be overwritten; give another file")
    if _special(path):
        what = _refused_node(path)
        if what:
            raise ValueError(f"cannot write {str(path)!r}: it is {what}, not a file (only a "
                             f"pipe, a terminal or /dev/null take output in place)")
        if not os.access(path, os.W_OK):
            raise ValueError(f"cannot write {str(path)!r}: permission denied")
        return path
    folder = real.parent
    if not folder.is_dir():
        shown = path.parent if str(path.parent) else Path(".")
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"cannot write {str(path)!r}: folder {str(shown)!r} {what}")
    if real.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: it is a folder")
    if real.exists() and (not os.access(real, os.W_OK) or not real.stat().st_mode & 0o222):
        raise ValueError(f"cannot write {str(path)!r}: the file is read-only (remove it or "
                         f"make it writable first)")
    return path


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises SystemExit(143) so ``finally`` clauses run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):  # pragma: no cover - no signals on this platform
        yield
        return
    if previous is not signal.SIG_DFL:  # someone else handles SIGTERM: leave it to them
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - a folder that cannot be opened (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring for the edge cases).

    Returns
    -------
    Path
        ``path`` as given (a symlink stays a symlink; its target holds ``data``).

    Raises
    ------
    ValueError
        The folder is missing, the path is a folder or a read-only file.
    OSError
        The write or the rename failed; ``strerror`` names ``path`` (never the temporary
        file) and the system's reason.
    """
    path = check_output_path(path)
    fd = descriptor_of(path)
    if fd is not None:
        _write_descriptor(path, fd, data)
        return path
    if _special(path):
        _write_in_place(path, data)
        return path
    real = Path(os.path.realpath(path))
    try:
        mode = real.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with _sigterm_raises():
        tmp = ""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, real)
            tmp = ""
        except OSError as err:
            raise _named(path, err) from None
        finally:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
    _fsync_folder(real.parent)
    return path


def _special(path: Path) -> bool:
    """Whether ``path`` (links followed) exists and is neither a regular file nor a folder:
    a device, a pipe or a socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


_DESCRIPTOR = re.compile(r"/dev/(?:std(?P<std>out|err)|fd/(?P<fd>\d+))|/proc/self/fd/(?P<own>\d+)")


def descriptor_of(path: str | Path) -> int | None:
    """The open descriptor ``path`` names (``/dev/stdout``, ``/dev/fd/3``...), None for any
    other path or a descriptor this process does not hold open: write there through it, never
    by opening the path (which truncates a file stdout appends to)."""
    match = _DESCRIPTOR.fullmatch(str(path))
    if match is None:
        return None
    fd = {"out": 1, "err": 2}.get(match["std"] or "") or int(match["fd"] or match["own"])
    try:
        os.fstat(fd)
    except OSError:
        return None
    return fd


def _refused_node(path: Path) -> str:
    """What kind of node ``path`` is when output may not go into it ("" when it may: a pipe,
    a terminal, /dev/null)."""
    info = os.stat(path)
    mode = info.st_mode
    if stat.S_ISFIFO(mode):
        return ""
    if stat.S_ISCHR(mode):
        # told apart by device number, never by opening the node (opening some devices acts:
        # /dev/watchdog arms a timer): /dev/null, and terminals (majors 4, 5 and 136-143,
        # Linux's devices.txt)
        major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
        if (major, minor) == (1, 3) or major in (4, 5) or 136 <= major <= 143:
            return ""
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _write_descriptor(path: Path, fd: int, data: bytes) -> None:
    """Write ``data`` to the open descriptor ``fd`` (``path`` names it), all of it."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError as err:
        raise _named(path, err) from None


def _write_in_place(path: Path, data: bytes) -> None:
    """Write ``data`` into an existing device or pipe (not a regular file) as it is."""
    try:
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
    except OSError as err:
        raise _named(path, err) from None


def _named(path: str | Path, err: OSError) -> OSError:
    """``err`` as an OSError that names the target ``path`` (not a temporary file)."""
    code = err.errno or errno.EIO
    return OSError(code, f"cannot write {str(path)!r}: {err.strerror or os.strerror(code)}")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
