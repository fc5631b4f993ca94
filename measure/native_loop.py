"""The MPI probe's timed loops in C, built on first use with the MPI library's own ``mpicc``.

Why: mpi4py spends 0.2-0.7 us of Python per call parsing its arguments. That is as long as a
whole 8-byte all-reduce or one-way ping-pong between two ranks in shared memory, and it overlaps
the communication in ways no subtraction undoes: against IMB-MPI1 on the same MPICH (2 ranks),
the Python loop with the cost of an empty call subtracted came out 0.2-0.9x IMB's all-reduce time
from 8 B to 4 KiB, and unsubtracted 1.2-2.3x (``benchmarks/probe_overhead.py``). IMB and the OSU
micro-benchmarks read the clock around a loop of plain MPI calls in C; ``native/timing_loop.c``
is that loop, and Python only prepares the buffers and checks them afterwards.

How: the C file is compiled with the ``mpicc`` that belongs to the MPI library mpi4py loaded
(``$FABRIC_MPICC``, else the one beside this Python, else ``mpicc`` on ``PATH``) into a cache
directory (``$FABRIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/fabric``, else ``~/.cache/fabric``),
keyed on the source, the compiler command and the MPI library's version string, written to a
temporary name and renamed, so concurrent ranks and hosts never load half a file. The library is
used only when the version string it was linked against equals mpi4py's: an ``mpicc`` of another
MPI on ``PATH`` cannot mix two MPI libraries in one process. Without a compiler the probe times
in Python and says so (``extra["timing_loop"]`` of every record).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NativeLoops", "load_native_loops", "MPICC_ENV", "CACHE_ENV"]

#: Path of the ``mpicc`` to build with (it must belong to the MPI library mpi4py uses).
MPICC_ENV = "FABRIC_MPICC"
#: Directory for built helpers (default ``$XDG_CACHE_HOME/fabric`` or ``~/.cache/fabric``).
CACHE_ENV = "FABRIC_CACHE_DIR"

SOURCE = Path(__file__).with_name("native") / "timing_loop.c"
_COMPILE_TIMEOUT_S = 120.0
#: The operation codes of ``timing_loop.c``.
KINDS = {"all-reduce": 0, "all-gather": 1, "reduce-scatter": 2, "all-to-all": 3, "broadcast": 4}


def cache_dir() -> Path:
    """Where built helpers are kept (created on demand)."""
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fabric"


def find_mpicc() -> str | None:
    """The ``mpicc`` to build with: ``$FABRIC_MPICC``, the one beside this Python (the ``mpich``
    wheel installs it there), or the first on ``PATH``."""
    given = os.environ.get(MPICC_ENV)
    if given is not None:
        return given or None
    beside = Path(sys.executable).parent / "mpicc"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mpicc")


@dataclass(frozen=True)
class NativeLoops:
    """The loaded helper: timed regions of back-to-back MPI calls, run in C."""

    library: ctypes.CDLL
    path: str

    def collective(self, comm: Any, operation: str, send: np.ndarray, recv: np.ndarray,
                   count: int, datatype: Any, op: Any, regions: int, batch: int,
                   barrier: bool) -> np.ndarray:
        """Seconds of each of ``regions`` regions of ``batch`` calls of ``operation``."""
        times = np.zeros(max(regions, 0))
        rc = self.library.fabric_collective_loop(
            comm.py2f(), KINDS[operation], _pointer(send), _pointer(recv), count,
            datatype.py2f(), op.py2f(), regions, batch, int(barrier), _pointer(times))
        _raise_on(rc)
        return times

    def pingpong(self, comm: Any, peer: int, first: bool, send: np.ndarray, recv: np.ndarray,
                 count: int, datatype: Any, tag: int, regions: int, batch: int) -> np.ndarray:
        """Seconds of each of ``regions`` regions of ``batch`` round trips with ``peer``."""
        times = np.zeros(max(regions, 0))
        rc = self.library.fabric_pingpong_loop(
            comm.py2f(), peer, int(first), _pointer(send), _pointer(recv), count,
            datatype.py2f(), tag, regions, batch, _pointer(times))
        _raise_on(rc)
        return times


def _pointer(array: np.ndarray) -> ctypes.c_void_p:
    if not array.flags.c_contiguous:
        raise ValueError("the native timing loop needs contiguous buffers")
    return ctypes.c_void_p(array.ctypes.data)


def _raise_on(rc: int) -> None:
    if rc != 0:
        from mpi4py import MPI

        raise MPI.Exception(rc)


def _declare(library: ctypes.CDLL) -> None:
    fint, ptr, long_ = ctypes.c_int, ctypes.c_void_p, ctypes.c_long
    library.fabric_collective_loop.argtypes = [fint, ctypes.c_int, ptr, ptr, ctypes.c_int, fint,
                                               fint, long_, long_, ctypes.c_int, ptr]
    library.fabric_pingpong_loop.argtypes = [fint, ctypes.c_int, ctypes.c_int, ptr, ptr,
                                             ctypes.c_int, fint, ctypes.c_int, long_, long_, ptr]
    library.fabric_library_version.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for name in ("fabric_collective_loop", "fabric_pingpong_loop", "fabric_library_version"):
        getattr(library, name).restype = ctypes.c_int


def _build(mpicc: str, target: Path) -> str:
    """Compile into ``target`` atomically; '' on success, else why not (one line)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent)
    os.close(handle)
    try:
        result = subprocess.run(
            [mpicc, "-O2", "-shared", "-fPIC", "-o", temporary, str(SOURCE)],
            capture_output=True, text=True, timeout=_COMPILE_TIMEOUT_S, check=False)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            return f"{mpicc} failed (exit {result.returncode}): {lines[0] if lines else ''}"
        os.replace(temporary, target)
        return ""
    except (OSError, subprocess.SubprocessError) as err:
        return f"cannot run {mpicc}: {err}"
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _key(mpicc: str, library_version: str) -> str:
    shown = ""
    try:  # MPICH and Open MPI print the underlying command; other wrappers may not
        shown = subprocess.run([mpicc, "-show"], capture_output=True, text=True, timeout=30,
                               check=False).stdout
    except (OSError, subprocess.SubprocessError):
        pass
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), os.path.realpath(mpicc).encode(), shown.encode(),
                 library_version.encode()):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def load_native_loops(library_version: str) -> tuple[NativeLoops | None, str]:
    """Build (once, cached) and load the helper for the MPI library whose
    ``MPI_Get_library_version`` is ``library_version``.

    Returns ``(loops, "")``, or ``(None, why)`` when there is no usable ``mpicc``, the build
    fails, or the built helper links another MPI library than mpi4py's.
    """
    mpicc = find_mpicc()
    if mpicc is None:
        return None, f"no mpicc found (set ${MPICC_ENV} to the MPI library's compiler wrapper)"
    target = cache_dir() / f"timing_loop-{_key(mpicc, library_version)}.so"
    if not target.is_file():
        why = _build(mpicc, target)
        if why:
            return None, why
    try:
        library = ctypes.CDLL(str(target))
        _declare(library)
    except (OSError, AttributeError) as err:
        return None, f"cannot load {target}: {err}"
    buffer = ctypes.create_string_buffer(8192)
    if library.fabric_library_version(buffer, len(buffer)) != 0:
        return None, f"{target} cannot tell its MPI library"
    linked = buffer.value.decode(errors="replace")
    if linked.strip() != library_version.strip():
        first = linked.strip().splitlines()[0] if linked.strip() else "?"
        return None, f"{mpicc} builds against another MPI library ({first}) than mpi4py's"
    return NativeLoops(library, str(target)), ""
