"""Human units at the edges, SI inside.

Everything inside the package is bytes, seconds, bytes/s, watts and USD. The functions here turn
what people type (``64KB``, ``1GiB``, ``400Gbps``, ``50GB/s``, ``1.5us``, ``128k``) into those
units and back. Decimal prefixes are powers of 1000 and binary prefixes (``KiB``, ``MiB``...) are
powers of 1024, as in nccl-tests and on link data sheets: 400 Gb/s is 50e9 bytes/s and GB/s in
output is 1e9 bytes/s.

>>> parse_size("64KB"), parse_size("1GiB"), parse_size("8")
(64000, 1073741824, 8)
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
]

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
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


def _split(text: str | float, what: str, accepted: str) -> tuple[float, str]:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text), ""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{what} must look like {accepted}, got {text!r}")
    return float(match.group(1)), match.group(2)


def parse_size(text: str | int) -> int:
    """Parse a byte count such as ``8``, ``8B``, ``64KB``, ``64KiB``, ``1GiB``.

    Decimal suffixes (``KB``, ``MB``, ``GB``) are powers of 1000; ``KiB``... are powers of 1024.

    Raises
    ------
    ValueError
        If the text is not a positive whole number of bytes.
    """
    accepted = "8, 64KB, 64KiB or 1GiB (a positive number of bytes)"
    value, unit = _split(text, "size", accepted)
    factor = _SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(
            f"size unit {unit!r} is not known in {text!r}; use B, KB, MB, GB, KiB, MiB, GiB"
        )
    size_bytes = value * factor
    if size_bytes <= 0 or not math.isfinite(size_bytes):
        raise ValueError(f"size must be > 0 bytes, got {text!r}")
    if abs(size_bytes - round(size_bytes)) > 1e-6 * max(1.0, size_bytes):
        raise ValueError(f"size must be a whole number of bytes, got {text!r}")
    return int(round(size_bytes))


def parse_size_list(text: str) -> list[int]:
    """Parse ``8B:8GiB`` (doubling), ``1KiB:1MiB:4`` (factor 4) or ``8,64KB,1GiB`` into bytes.

    >>> parse_size_list("8:64")
    [8, 16, 32, 64]
    >>> parse_size_list("1KiB,1MiB")
    [1024, 1048576]
    """
    text = str(text).strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"size range must be MIN:MAX or MIN:MAX:FACTOR, got {text!r}")
        low, high = parse_size(parts[0]), parse_size(parts[1])
        factor = 2.0
        if len(parts) == 3:
            try:
                factor = float(parts[2])
            except ValueError:
                factor = 0.0
            if not factor > 1.0:
                raise ValueError(f"size range factor must be a number > 1, got {parts[2]!r}")
        if high < low:
            raise ValueError(f"size range must have MIN <= MAX, got {text!r}")
        sizes = []
        value = float(low)
        while value <= high * (1 + 1e-12):
            sizes.append(int(round(value)))
            value *= factor
        return sizes
    return [parse_size(part) for part in text.split(",") if part.strip()] or _empty(text)


def _empty(text: str) -> list[int]:
    raise ValueError(f"size list must name at least one size, got {text!r}")


def parse_rate(text: str | float) -> float:
    """Parse a link rate into bytes/s: ``400Gbps``/``400Gb/s`` (bits) or ``50GB/s`` (bytes).

    A bare number is bytes/s. Bits are told from bytes by ``bps``/``bit/s`` against ``B/s``:
    ``400Gbps`` is 50e9 bytes/s and ``50GB/s`` is 50e9 bytes/s.
    """
    accepted = "400Gbps, 400Gbit/s or 50GB/s"
    value, unit = _split(text, "rate", accepted)
    raw = unit
    unit_l = unit.lower()
    if unit == "":
        rate = value
    elif unit_l in _RATE_BITS:
        rate = value * _RATE_BITS[unit_l] / 8.0
    elif unit_l.endswith("b/s") and raw[-3] == "b":
        # "Gb/s": lower-case b means bits
        rate = value * _RATE_BITS[unit_l[:-3] + "bps"] / 8.0
    elif unit_l in _RATE_BYTES:
        rate = value * _RATE_BYTES[unit_l]
    else:
        raise ValueError(f"rate unit {unit!r} is not known in {text!r}; use {accepted}")
    if rate <= 0 or not math.isfinite(rate):
        raise ValueError(f"rate must be > 0, got {text!r}")
    return float(rate)


def parse_time(text: str | float) -> float:
    """Parse a duration into seconds: ``1.5us``, ``200ns``, ``3ms``, ``2s``; a bare number is s."""
    value, unit = _split(text, "time", "1.5us, 200ns, 3ms or 2s")
    factor = _TIME_UNITS.get(unit.lower() if unit != "µs" else unit, None if unit else 1.0)
    if factor is None:
        raise ValueError(f"time unit {unit!r} is not known in {text!r}; use ns, us, ms, s")
    seconds = value * factor
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"time must be >= 0, got {text!r}")
    return seconds


def parse_count(text: str | int) -> int:
    """Parse a token count: ``131072``, ``128k`` (=131072), ``1M`` (=1048576), ``10M``.

    Token counts use binary prefixes, as model context lengths do (a 128k context is 131072).
    """
    value, unit = _split(text, "count", "131072, 128k or 1M")
    factor = _COUNT_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"count suffix {unit!r} is not known in {text!r}; use k, M or G")
    count = value * factor
    if count < 1 or abs(count - round(count)) > 1e-6 * count:
        raise ValueError(f"count must be a whole number >= 1, got {text!r}")
    return int(round(count))


def format_size(size_bytes: float) -> str:
    """Format bytes in the shortest exact binary or decimal unit (``1GiB``, ``64KB``, ``8B``)."""
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
    """Format bytes/s as GB/s (1e9 bytes/s, the nccl-tests unit)."""
    return f"{bandwidth_bytes_per_s / 1e9:.2f} GB/s"


def format_time(time_s: float) -> str:
    """Format seconds with a readable unit (ns, us, ms, s, min, h)."""
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
