"""Holdout specs: which sizes a calibration fits and which it leaves out."""

from __future__ import annotations

import pytest

from measure.holdout import Holdout, HoldoutSplit, parse_holdout

SIZES = [8, 16, 32, 64, 128, 8]  # five distinct sizes, one repeated


@pytest.mark.parametrize(("spec", "held"), [
    ("none", ()),
    ("", ()),
    ("half", (16, 64)),
    ("every:3", (32,)),
    ("fit-every:2", (16, 64)),
    ("fit-every:3", (16, 32, 128)),
    ("fraction:0.5", (16, 64)),
    # floor((i+1)/5) > floor(i/5) only at position 4 of 0..4
    ("fraction:0.2", (128,)),
    ("sizes:16,128B", (16, 128)),
    (" Every:3 ", (32,)),
])
def test_holdout_specs(spec: str, held: tuple[int, ...]) -> None:
    split = parse_holdout(spec).split(SIZES)
    assert split.held_out_sizes_bytes == held
    assert sorted(split.fitted_sizes_bytes + held) == [8, 16, 32, 64, 128]


def test_sizes_spec_takes_size_suffixes() -> None:
    holdout = parse_holdout("sizes:1KiB,1MiB,1KiB")
    assert holdout == Holdout(kind="sizes", sizes_bytes=(1024, 1024**2))


def test_none_and_holdout_objects_pass_through() -> None:
    assert parse_holdout(None) == Holdout()
    every = Holdout(kind="every", step=4)
    assert parse_holdout(every) is every
    assert Holdout().split([3, 1, 2]) == HoldoutSplit((1, 2, 3), ())


@pytest.mark.parametrize("spec", ["most", "every:x", "fraction:1.5", "sizes:", "fit-every:0",
                                  "every:1", "sizes:1XB"])
def test_bad_holdout_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="holdout") as err:
        parse_holdout(spec)
    assert "every:K" in str(err.value)  # the accepted forms are listed


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "some"}, "holdout kind must be none, every"),
    ({"kind": "every", "step": 1}, "K >= 2, got 1"),
    ({"kind": "fraction", "fraction": 1.0}, "fraction must be in \\(0, 1\\)"),
    ({"kind": "sizes"}, "needs at least one size"),
])
def test_holdout_validates_its_fields(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Holdout(**kwargs)


def test_holdout_sizes_must_exist() -> None:
    with pytest.raises(ValueError, match="holdout sizes 3 B are not among the records' sizes"):
        Holdout(kind="sizes", sizes_bytes=(3,)).split([8, 16])
