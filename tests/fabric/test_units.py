"""Human units at the edges (fabric.units): parsing, formatting, and refusing what is not a size.

Reference values follow the conventions of the module docstring: decimal prefixes are powers of
1000, binary prefixes (KiB, MiB...) powers of 1024, link rates are bits (400 Gb/s = 50e9 B/s),
token counts use binary prefixes (a 128k context is 131072 tokens).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fabric import units
from fabric.units import (
    MAX_SIZES,
    format_size,
    format_time,
    parse_count,
    parse_rate,
    parse_size,
    parse_size_list,
    parse_time,
)

# -- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size_bytes"),
    [
        ("8", 8),
        ("8B", 8),
        (8, 8),
        ("64KB", 64_000),
        ("64kb", 64_000),
        ("64KiB", 65_536),
        ("1MB", 10**6),
        ("1MiB", 2**20),
        ("1GB", 10**9),
        ("1GiB", 2**30),
        ("1gib", 2**30),
        ("2TB", 2 * 10**12),
        ("2TiB", 2 * 2**40),
        ("1.5KB", 1500),
        (" 4 KiB ", 4096),
        ("1e3", 1000),
        ("0.1GB", 10**8),  # exact decimal arithmetic, not 100000000.00000001
        ("9007199254740993", 2**53 + 1),  # beyond a float's integers
        (2**63 - 1, 2**63 - 1),
    ],
)
def test_parse_size_si_and_iec(text: str | int, size_bytes: int) -> None:
    got = parse_size(text)
    assert got == size_bytes and type(got) is int


@pytest.mark.parametrize("text", ["1Gb", "64Kb", "2Tb", "8Mb"])
def test_a_size_in_bit_symbols_is_refused(text: str) -> None:
    """Gb is gigabits in rates (400Gb/s): as a size it was read as bytes, 8x too large."""
    with pytest.raises(ValueError, match="ends in 'b', which means bits in rates"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "must be > 0 bytes"),
        (-5, "must be > 0 bytes"),
        ("-5", "must look like"),
        ("", "must look like"),
        ("GiB", "must look like"),
        ("1.5", "whole number of bytes"),
        ("1.0001KiB", "whole number of bytes"),
        ("1.0000001KB", "whole number of bytes"),  # 1000.0001 bytes
        (2**63, "at most 2\\*\\*63 - 1 bytes"),
        ("5XB", "size unit 'XB' is not known"),
        ("1e30", "at most 2\\*\\*63 - 1 bytes"),
        ("1e999", "at most 2\\*\\*63 - 1 bytes"),
        (float("inf"), "at most 2\\*\\*63 - 1 bytes"),
        (float("nan"), "must be > 0 bytes"),
        pytest.param(10**400, r"at most 2\*\*63 - 1 bytes \(8 EiB\), got an integer of 1329 bits",
                     id="10**400"),
        ("nan", "must look like"),
        (True, "must look like"),
    ],
)
def test_parse_size_errors(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size_bytes", "text"),
    [
        (8, "8B"),
        (1000, "1KB"),
        (1024, "1KiB"),
        (1536, "1536B"),  # 1.5 KiB: no whole unit
        (64_000, "64KB"),
        (2**30, "1GiB"),
        (10**9, "1GB"),
        (3 * 2**40, "3TiB"),
        (12_345, "12345B"),
        (2.5, "2.5B"),
    ],
)
def test_format_size(size_bytes: float, text: str) -> None:
    assert format_size(size_bytes) == text


@given(st.integers(min_value=1, max_value=units.MAX_INTEGER))
def test_format_then_parse_size_round_trips(size_bytes: int) -> None:
    assert parse_size(format_size(size_bytes)) == size_bytes


def test_format_never_raises_on_non_finite_values() -> None:
    assert format_size(math.inf) == "infB"
    assert format_time(math.nan) == "nan s"
    assert format_time(-math.inf) == "-inf s"


# -- size lists and ranges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sizes"),
    [
        ("8:64", [8, 16, 32, 64]),
        ("8B:8GiB", [8 * 2**k for k in range(31)]),
        ("1KiB:1MiB:4", [1024 * 4**k for k in range(6)]),
        ("1:4:1.2", [1, 2, 3, 4]),  # 1, 1.2, 1.44, 1.728, 2.07, ... rounded, once each
        ("8:16:1.0000000001", list(range(8, 17))),  # a near-1 factor: every byte count once
        ("8:1GiB:1e300", [8]),  # a huge factor: MIN only
        ("1KiB,1MiB", [1024, 2**20]),
        ("1MiB,8,1KiB,8", [8, 1024, 2**20]),  # sorted, each size once
    ],
)
def test_parse_size_list(text: str, sizes: list[int]) -> None:
    assert parse_size_list(text) == sizes


def test_a_factor_too_close_to_one_is_refused() -> None:
    """Issue 9: ``8B:8GiB:1.0001`` gave 207,955 sizes, mostly duplicates."""
    with pytest.raises(ValueError, match=r"'8B:8GiB:1\.0001' gives more than 10000 distinct"):
        parse_size_list("8B:8GiB:1.0001")


def test_a_range_right_at_the_cap_is_accepted() -> None:
    sizes = parse_size_list(f"1:{MAX_SIZES}:1.0000001")
    assert sizes == list(range(1, MAX_SIZES + 1))
    with pytest.raises(ValueError, match="more than 10000 distinct sizes"):
        parse_size_list(f"1:{MAX_SIZES + 1}:1.0000001")


@given(
    low=st.integers(min_value=1, max_value=10**6),
    ratio=st.floats(min_value=1.0, max_value=1e4),
    factor=st.floats(min_value=1.001, max_value=16.0),
)
def test_range_equals_every_step_rounded_without_repeats(
    low: int, ratio: float, factor: float
) -> None:
    high = int(low * ratio)
    steps = math.floor(math.log(high / low) / math.log(factor)) + 2
    assume(steps < 20_000)
    steps_in_range = [k for k in range(steps + 1) if low * factor**k <= high * (1 + 1e-12)]
    want = sorted({round(low * factor**k) for k in steps_in_range})
    assume(len(want) <= MAX_SIZES)
    assert parse_size_list(f"{low}:{high}:{factor!r}") == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("64:8", "MIN <= MAX"),
        ("8:64:1", "factor must be a finite number > 1, got '1'"),
        ("8:64:0.5", "finite number > 1"),
        ("8:64:x", "finite number > 1, got 'x'"),
        ("8:64:inf", "finite number > 1, got 'inf'"),
        ("8:64:nan", "finite number > 1, got 'nan'"),
        ("1:2:3:4", "MIN:MAX or MIN:MAX:FACTOR"),
        ("8:", "size must look like"),
        ("", "at least one size"),
        (" , ", "at least one size"),
        ("8,0", "must be > 0 bytes"),
    ],
)
def test_parse_size_list_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size_list(text)


def test_a_long_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 10000 distinct sizes, got 10001"):
        parse_size_list(",".join(str(i) for i in range(1, MAX_SIZES + 2)))


# -- rates, times, counts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bandwidth_bytes_per_s"),
    [
        ("400Gbps", 50e9),
        ("400Gb/s", 50e9),  # lower-case b: bits
        ("400gbit/s", 50e9),
        ("800Gbps", 100e9),
        ("50GB/s", 50e9),  # upper-case B: bytes
        ("5GBps", 5e9),  # upper-case B: bytes (it was read as bits, 8x too slow)
        ("5MBps", 5e6),
        ("1GiB/s", 2.0**30),
        ("100Mbps", 12.5e6),
        ("5", 5.0),
        (25e9, 25e9),
    ],
)
def test_parse_rate(text: str | float, bandwidth_bytes_per_s: float) -> None:
    assert parse_rate(text) == pytest.approx(bandwidth_bytes_per_s, rel=1e-15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0Gbps", "must be > 0"),
        (-1, "must be > 0"),
        ("400Xbps", "rate unit 'Xbps' is not known"),
        ("400GBPS", "rate unit 'GBPS' in '400GBPS' does not say bits or bytes"),
        ("1e999Gbps", "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (float("nan"), "must be > 0"),
        ("fast", "must look like"),
    ],
)
def test_parse_rate_errors(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rate(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "time_s"),
    [
        ("1.5us", 1.5e-6),
        ("1.5µs", 1.5e-6),
        ("200ns", 200e-9),
        ("3ms", 3e-3),
        ("2s", 2.0),
        ("2", 2.0),
        ("1min", 60.0),
        ("0", 0.0),
    ],
)
def test_parse_time(text: str, time_s: float) -> None:
    assert parse_time(text) == pytest.approx(time_s, rel=1e-15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (-1, "time must be >= 0"),
        (float("nan"), "time must be >= 0"),
        ("1e999s", "must be a finite number"),
        (float("inf"), "must be a finite number"),
        ("5parsec", "time unit 'parsec' is not known"),
    ],
)
def test_parse_time_errors(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_time(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "count"),
    [("131072", 131072), ("128k", 131072), ("1M", 2**20), ("10M", 10 * 2**20), (7, 7)],
)
def test_parse_count(text: str | int, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "whole number >= 1"),
        ("1.5", "whole number >= 1"),
        (float("nan"), "whole number >= 1"),
        ("1e30", "at most 2\\*\\*63 - 1"),
        (float("inf"), "at most 2\\*\\*63 - 1"),
        ("5x", "count suffix 'x' is not known"),
    ],
)
def test_parse_count_errors(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_count(text)  # type: ignore[arg-type]


def test_named_conversions_round_trip() -> None:
    assert units.gbps_to_bytes_per_s(400) == 50e9
    assert units.bytes_per_s_to_gbps(50e9) == 400
    assert units.gb_per_s_to_bytes_per_s(50) == 50e9
    assert units.bytes_per_s_to_gb_per_s(50e9) == 50
    assert units.us_to_s(1.5) == pytest.approx(1.5e-6)
    assert units.s_to_us(1.5e-6) == pytest.approx(1.5)
    assert units.ns_to_s(200) == pytest.approx(2e-7)


def test_formatting_picks_a_readable_unit() -> None:
    assert units.format_rate(50e9) == "50.00 GB/s"
    assert units.format_rate(25e6) == "25.00 MB/s"  # a 200 Mbit/s emulated link, not 0.03 GB/s
    assert [format_time(t) for t in (0, 5e-9, 1.5e-6, 2.5e-3, 3.0, 600.0, 9000.0)] == [
        "0 s", "5.0 ns", "1.50 us", "2.50 ms", "3.00 s", "10.0 min", "2.50 h",
    ]


# -- garbage in: a clear ValueError, never another exception ---------------------------------

PARSERS = [parse_size, parse_size_list, parse_rate, parse_time, parse_count]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda f: f.__name__)
@given(text=st.one_of(st.text(max_size=30), st.floats(), st.integers(), st.booleans()))
def test_parsers_fed_garbage_raise_value_error_or_answer(parse, text: object) -> None:
    try:
        result = parse(text)
    except ValueError:
        return
    values = result if isinstance(result, list) else [result]
    assert values and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


@pytest.mark.parametrize("parse", PARSERS, ids=lambda f: f.__name__)
@given(
    text=st.from_regex(
        r"\A[0-9.eE+-]{0,12}(nan|inf|[kKmMgGtT]i?[bB]?|[gG]bps|GB/s|us|ns|[:,]){0,3}\Z"
    )
)
def test_parsers_fed_near_misses_raise_value_error_or_answer(parse, text: str) -> None:
    try:
        parse(text)
    except ValueError:
        pass
