"""Human units at the edges, SI inside.

Everything inside the package is bytes, seconds, bytes/s, watts and USD. The functions here turn
what people type (``64KB``, ``1GiB``, ``400Gbps``, ``50GB/s``, ``1.5us``, ``128k``) into those
units and back.

One meaning of a suffix everywhere (``docs/cli.md``, "Numbers and suffixes"):

* sizes: a bare ``K``/``M``/``G``/``T`` (any case) is a power of 1024, as nccl-tests reads its
  ``-b``/``-e`` flags (``parsesize`` in NVIDIA/nccl-tests ``src/common.cu``,
  https://github.com/NVIDIA/nccl-tests/blob/master/src/common.cu, read 2026-12-04);
  ``KiB``/``MiB``/``GiB``/``TiB`` are powers of 1024 and ``kB``/``KB``/``MB``/``GB``/``TB`` are
  powers of 1000 (SI). nccl-tests reads only the first letter, so ``1MB`` there is 1 MiB; here it
  is 10^6 bytes.
* counts (GPUs, tokens): ``k``/``M``/``G`` are powers of 1024, the same as a bare size suffix
  (``--gpus 16k`` is 16,384 GPUs, ``--context 128k`` is 131,072 tokens).
* rates: data-sheet units, 400 Gb/s is 50e9 bytes/s and GB/s in output is 1e9 bytes/s.

>>> parse_size("64KB"), parse_size("64K"), parse_size("1GiB"), parse_size("8")
(64000, 65536, 1073741824, 8)
>>> parse_rate("400Gbps")
50000000000.0
>>> parse_time("1.5us")
1.5e-06
>>> format_size(1 << 30)
'1GiB'
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, Inexact

__all__ = [
    "parse_size",
    "parse_size_list",
    "parse_rate",
    "parse_time",
    "parse_count",
    "format_size",
    "format_rate",
    "format_time",
    "gbps_to_bytes_per_s",
    "bytes_per_s_to_gbps",
    "gb_per_s_to_bytes_per_s",
    "bytes_per_s_to_gb_per_s",
    "us_to_s",
    "s_to_us",
    "ns_to_s",
    "MAX_SIZES",
    "MAX_INTEGER",
]

#: The most sizes a size list or range may hold (``8B:8GiB:1.0001`` would hold 136,000).
MAX_SIZES = 10_000
#: The largest byte count or token count accepted: an int64, as numpy arrays hold them.
MAX_INTEGER = 2**63 - 1

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,  # a bare K/M/G/T: powers of 1024, as nccl-tests' -b/-e read them
    "kb": 1000,
    "m": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

# bits per second prefixes; "gbps", "gb/s" lower-case "b" means bits only when the user wrote "bps"
_RATE_BITS = {
    "bps": 1,
    "kbps": 1e3,
    "mbps": 1e6,
    "gbps": 1e9,
    "tbps": 1e12,
    "bit/s": 1,
    "kbit/s": 1e3,
    "mbit/s": 1e6,
    "gbit/s": 1e9,
    "tbit/s": 1e12,
}
_RATE_BYTES = {
    "b/s": 1,
    "kb/s": 1e3,
    "mb/s": 1e6,
    "gb/s": 1e9,
    "tb/s": 1e12,
    "kib/s": 1024.0,
    "mib/s": 1024.0**2,
    "gib/s": 1024.0**3,
}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}
_COUNT_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_QUANTITY = re.compile(r"^\s*" + _NUMBER + r"\s*([A-Za-zµ/]*)\s*$")


def _show(text: object) -> str:
    """``repr(text)`` for an error message, shortened: a user may pass 10**5000 or a novel."""
    if isinstance(text, int) and not isinstance(text, bool) and text.bit_length() > 64:
        return f"an integer of {text.bit_length()} bits"
    shown = repr(text)
    return shown if len(shown) <= 60 else f"{shown[:40]}...{shown[-12:]} ({len(shown)} characters)"


def _split(text: str | float, what: str, accepted: str) -> tuple[float, str]:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        try:
            return float(text), ""
        except OverflowError as err:  # an int beyond a float's range
            raise ValueError(f"{what} must be a finite number, got {_show(text)}") from err
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{what} must look like {accepted}, got {_show(text)}")
    return float(match.group(1)), match.group(2)


def _split_exact(text: str | float, what: str, accepted: str) -> tuple[Decimal, str]:
    """:func:`_split` for whole quantities: the number as an exact Decimal (NaN/inf kept)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Decimal(text), ""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{what} must look like {accepted}, got {_show(text)}")
    return Decimal(match.group(1)), match.group(2)


# exact products up to 60 digits; a value that needs more is not a whole number <= 2**63
_EXACT = Context(prec=60, traps=[Inexact])


def _exact_product(value: Decimal, factor: int) -> Decimal | None:
    """``value * factor`` exactly, for a finite ``0 < value <= MAX_INTEGER``; None if it takes
    more than 60 digits (then it is not a whole number <= MAX_INTEGER)."""
    try:
        return _EXACT.multiply(value, Decimal(factor))
    except Inexact:
        return None


def parse_size(text: str | int) -> int:
    """Parse a byte count such as ``8``, ``8B``, ``64K``, ``64KB``, ``64KiB``, ``1GiB``.

    A bare ``K``/``M``/``G``/``T`` is a power of 1024 (nccl-tests' ``-b``/``-e``); ``KiB``... are
    powers of 1024; ``KB``/``MB``/``GB``/``TB`` are powers of 1000.
    The arithmetic is exact (decimal, not binary floating point): ``0.1GB`` is 100,000,000
    bytes and every whole number up to :data:`MAX_INTEGER` reads back as itself.

    Raises
    ------
    ValueError
        If the text is not a positive whole number of bytes.
    """
    accepted = "8, 64KB, 64KiB or 1GiB (a positive number of bytes)"
    value, unit = _split_exact(text, "size", accepted)
    if unit in ("Kb", "Mb", "Gb", "Tb"):
        # the symbols of kilo- to terabits (as in rates, --tier-bandwidth 400Gb/s): as a size
        # they would be read as bytes, 8x too large; all-lowercase "kb" stays bytes
        raise ValueError(f"size {_show(text)} ends in 'b', which means bits in rates: give "
                         f"bytes, {unit[:-1].upper()}B (x1000) or {unit[:-1].upper()}iB (x1024)")
    factor = _SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(
            f"size unit {unit!r} is not known in {_show(text)}; use B, K, M, G (x1024, as "
            f"nccl-tests), KiB, MiB, GiB (x1024) or KB, MB, GB (x1000)"
        )
    if value.is_nan() or not value > 0:
        raise ValueError(f"size must be > 0 bytes, got {_show(text)}")
    size_bytes = _exact_product(value, factor) if value <= MAX_INTEGER else value
    if size_bytes is not None and size_bytes > MAX_INTEGER:
        raise ValueError(f"size must be at most 2**63 - 1 bytes (8 EiB), got {_show(text)}")
    if size_bytes is None or size_bytes != size_bytes.to_integral_value():
        raise ValueError(f"size must be a whole number of bytes, got {_show(text)}")
    return int(size_bytes)


def parse_size_list(text: str) -> list[int]:
    """Parse ``8B:8GiB`` (doubling), ``1KiB:1MiB:4`` (factor 4) or ``8,64KB,1GiB`` into bytes.

    A range ``MIN:MAX:FACTOR`` holds the sizes ``round(MIN * FACTOR**k)`` up to MAX. The result
    is sorted and without duplicates (a factor near 1 rounds several steps to the same byte
    count), and holds at most :data:`MAX_SIZES` sizes.

    >>> parse_size_list("8:64")
    [8, 16, 32, 64]
    >>> parse_size_list("1KiB,1MiB")
    [1024, 1048576]
    >>> parse_size_list("1:4:1.2")
    [1, 2, 3, 4]

    Raises
    ------
    ValueError
        A malformed size, a range with MIN > MAX or a FACTOR that is not a finite number > 1,
        or more than :data:`MAX_SIZES` distinct sizes.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return [parse_size(text)]
    text = str(text).strip()
    if ":" not in text:
        sizes = sorted({parse_size(part) for part in text.split(",") if part.strip()})
        if not sizes:
            raise ValueError(f"size list must name at least one size, got {_show(text)}")
        if len(sizes) > MAX_SIZES:
            raise ValueError(
                f"size list must hold at most {MAX_SIZES} distinct sizes, got {len(sizes)}"
            )
        return sizes
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"size range must be MIN:MAX or MIN:MAX:FACTOR, got {_show(text)}")
    low, high = parse_size(parts[0]), parse_size(parts[1])
    factor = 2.0
    if len(parts) == 3:
        try:
            factor = float(parts[2])
        except ValueError:
            factor = math.nan
        if not (factor > 1.0 and math.isfinite(factor)):
            message = f"size range factor must be a finite number > 1, got {_show(parts[2])}"
            raise ValueError(message)
    if high < low:
        raise ValueError(f"size range must have MIN <= MAX, got {_show(text)}")
    return _size_range(low, high, factor, text)


def _size_range(low: int, high: int, factor: float, text: str) -> list[int]:
    """The distinct ``round(low * factor**k) <= high``, found without walking repeated ones.

    From each size it jumps to the first step k that rounds to a larger size (estimated with a
    logarithm, then corrected by checking ``round`` itself), so the work is per distinct size
    and a factor of ``1 + 1e-12`` costs no more than the cap.
    """
    limit = high * (1 + 1e-12)
    log_factor = math.log(factor)

    def value(k: int) -> float:
        try:
            return low * factor**k
        except OverflowError:
            return math.inf

    sizes, k = [low], 0
    while True:
        last = sizes[-1]
        step = max(k + 1, math.ceil(math.log((last + 0.5) / low) / log_factor))
        while step - 1 > k and round(value(step - 1)) > last:
            step -= 1
        while value(step) <= limit and round(value(step)) <= last:
            step += 1
        if value(step) > limit:
            return sizes
        sizes.append(int(round(value(step))))
        if len(sizes) > MAX_SIZES:
            raise ValueError(
                f"size range {_show(text)} gives more than {MAX_SIZES} distinct sizes; a list may "
                f"hold at most {MAX_SIZES}: use a factor further from 1 or a narrower range"
            )
        k = step


def parse_rate(text: str | float) -> float:
    """Parse a link rate into bytes/s: ``400Gbps``/``400Gb/s`` (bits) or ``50GB/s`` (bytes).

    A bare number is bytes/s. Bits are told from bytes by the case of the b: ``400Gbps``,
    ``400Gb/s`` and ``400Gbit/s`` are 50e9 bytes/s, ``50GB/s`` and ``50GBps`` are 50e9 bytes/s
    (``GBPS`` says neither and is refused).

    >>> parse_rate("400Gbps"), parse_rate("50GBps"), parse_rate("50GB/s"), parse_rate("400Gb/s")
    (50000000000.0, 50000000000.0, 50000000000.0, 50000000000.0)
    """
    accepted = "400Gbps, 400Gbit/s or 50GB/s"
    value, unit = _split(text, "rate", accepted)
    raw = unit
    unit_l = unit.lower()
    if unit == "":
        rate = value
    elif unit_l.endswith("bps") and unit_l in _RATE_BITS:
        # the case of the b says it, as in "b/s": Gbps bits, GBps bytes; GBPS says neither
        if raw.endswith("bps"):
            rate = value * _RATE_BITS[unit_l] / 8.0
        elif raw.endswith("Bps"):
            rate = value * _RATE_BYTES[unit_l[:-3] + "b/s"]
        else:
            raise ValueError(f"rate unit {unit!r} in {_show(text)} does not say bits or bytes; "
                             f"use {unit[:-3]}bps or {unit[:-3]}bit/s (bits), or "
                             f"{unit[:-3]}B/s (bytes)")
    elif unit_l in _RATE_BITS:
        rate = value * _RATE_BITS[unit_l] / 8.0
    elif unit_l.endswith("b/s") and raw[-3] == "b":
        # "Gb/s": lower-case b means bits
        rate = value * _RATE_BITS[unit_l[:-3] + "bps"] / 8.0
    elif unit_l in _RATE_BYTES:
        rate = value * _RATE_BYTES[unit_l]
    else:
        raise ValueError(f"rate unit {unit!r} is not known in {_show(text)}; use {accepted}")
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {_show(text)}")
    if not math.isfinite(rate):
        raise ValueError(f"rate must be a finite number, got {_show(text)}")
    return float(rate)


def parse_time(text: str | float) -> float:
    """Parse a duration into seconds: ``1.5us``, ``200ns``, ``3ms``, ``2s``; a bare number is s."""
    value, unit = _split(text, "time", "1.5us, 200ns, 3ms or 2s")
    factor = _TIME_UNITS.get(unit.lower() if unit != "µs" else unit, None if unit else 1.0)
    if factor is None:
        raise ValueError(f"time unit {unit!r} is not known in {_show(text)}; use ns, us, ms, s")
    seconds = value * factor
    if not seconds >= 0:
        raise ValueError(f"time must be >= 0, got {_show(text)}")
    if not math.isfinite(seconds):
        raise ValueError(f"time must be a finite number, got {_show(text)}")
    return seconds


def parse_count(text: str | int) -> int:
    """Parse a count (GPUs, tokens): ``131072``, ``128k`` (=131072), ``1M`` (=1048576), ``16k``.

    Counts use powers of 1024, as model context lengths do (a 128k context is 131072) and as a
    bare size suffix does (:func:`parse_size`): ``k`` means 1024 everywhere on the command line.
    """
    value, unit = _split_exact(text, "count", "131072, 128k or 1M")
    factor = _COUNT_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"count suffix {unit!r} is not known in {_show(text)}; use k, M or G")
    if value.is_nan() or not value > 0:
        raise ValueError(f"count must be a whole number >= 1, got {_show(text)}")
    count = _exact_product(value, factor) if value <= MAX_INTEGER else value
    if count is not None and count > MAX_INTEGER:
        raise ValueError(f"count must be at most 2**63 - 1, got {_show(text)}")
    if count is None or count < 1 or count != count.to_integral_value():
        raise ValueError(f"count must be a whole number >= 1, got {_show(text)}")
    return int(count)


def format_size(size_bytes: float) -> str:
    """Format bytes in the shortest exact binary or decimal unit (``1GiB``, ``64KB``, ``8B``)."""
    if not math.isfinite(size_bytes):
        return f"{size_bytes}B"
    n = int(size_bytes)
    if n != size_bytes:
        return f"{size_bytes:g}B"
    for unit, factor in (
        ("TiB", 1024**4),
        ("GiB", 1024**3),
        ("MiB", 1024**2),
        ("KiB", 1024),
        ("TB", 1000**4),
        ("GB", 1000**3),
        ("MB", 1000**2),
        ("KB", 1000),
    ):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"


def format_rate(bandwidth_bytes_per_s: float) -> str:
    """Format bytes/s as GB/s (1e9 bytes/s, the nccl-tests unit), or MB/s, KB/s or B/s for a
    rate below 1 GB/s (an emulated link, a break-even rate), so that it does not read 0.00.

    >>> format_rate(50e9), format_rate(115_123.0), format_rate(12.0)
    ('50.00 GB/s', '115.12 KB/s', '12 B/s')
    """
    for unit, scale in (("GB/s", 1e9), ("MB/s", 1e6), ("KB/s", 1e3)):
        if not math.isfinite(bandwidth_bytes_per_s) or bandwidth_bytes_per_s >= scale:
            return f"{bandwidth_bytes_per_s / scale:.2f} {unit}"
    return f"{bandwidth_bytes_per_s:.0f} B/s"


def format_time(time_s: float) -> str:
    """Format seconds with a readable unit (ns, us, ms, s, min, h)."""
    if not math.isfinite(time_s):
        return f"{time_s} s"
    t = abs(time_s)
    if t == 0:
        return "0 s"
    if t < 1e-6:
        return f"{time_s * 1e9:.1f} ns"
    if t < 1e-3:
        return f"{time_s * 1e6:.2f} us"
    if t < 1.0:
        return f"{time_s * 1e3:.2f} ms"
    if t < 120.0:
        return f"{time_s:.2f} s"
    if t < 7200.0:
        return f"{time_s / 60:.1f} min"
    return f"{time_s / 3600:.2f} h"


def gbps_to_bytes_per_s(rate_gbps: float) -> float:
    """Decimal gigabits per second to bytes/s (400 -> 50e9)."""
    return rate_gbps * 1e9 / 8.0


def bytes_per_s_to_gbps(bandwidth_bytes_per_s: float) -> float:
    """Bytes/s to decimal gigabits per second."""
    return bandwidth_bytes_per_s * 8.0 / 1e9


def gb_per_s_to_bytes_per_s(rate_gb_per_s: float) -> float:
    """GB/s (1e9 bytes/s) to bytes/s."""
    return rate_gb_per_s * 1e9


def bytes_per_s_to_gb_per_s(bandwidth_bytes_per_s: float) -> float:
    """Bytes/s to GB/s (1e9 bytes/s)."""
    return bandwidth_bytes_per_s / 1e9


def us_to_s(time_us: float) -> float:
    """Microseconds to seconds."""
    return time_us * 1e-6


def s_to_us(time_s: float) -> float:
    """Seconds to microseconds."""
    return time_s * 1e6


def ns_to_s(time_ns: float) -> float:
    """Nanoseconds to seconds."""
    return time_ns * 1e-9
