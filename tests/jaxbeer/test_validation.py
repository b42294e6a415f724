"""The two checks behind every validated setting."""

from __future__ import annotations

import numpy as np
import pytest

from jaxbeer.validation import check_int, check_range


def test_check_int_accepts_integers_in_range_and_returns_them():
    assert check_int("n", 3, 1) == 3 and check_int("n", np.int64(5), 0, 5) == 5 and check_int("n", -7) == -7


@pytest.mark.parametrize(
    "value, low, high, message",
    [
        (0, 1, None, "n must be an integer >= 1, got 0"),
        (6, 0, 5, r"n must be an integer in \[0, 5\], got 6"),
        (True, 0, None, "n must be an integer >= 0, got True"),
        (2.0, 0, None, "n must be an integer >= 0, got 2.0"),
        ("3", None, None, "n must be an integer, got '3'"),
    ],
)
def test_check_int_names_the_setting_and_its_range(value, low, high, message):
    with pytest.raises(ValueError, match=message):
        check_int("n", value, low, high)


def test_check_range_bounds_and_the_error_class():
    assert check_range("x", 0.5, 0.0, 1.0) == 0.5 and check_range("x", 1, 0.0) == 1.0
    for value, kwargs, message in [
        (0.0, dict(low=0.0, high=1.0, low_inclusive=False), r"x must be in \(0.0, 1.0\], got 0.0"),
        (float("nan"), dict(low=0.0), "x must be finite and >= 0.0, got nan"),
        (float("inf"), {}, "x must be finite, got inf"),
        (-1.0, dict(low=0.0), "x must be finite and >= 0.0, got -1.0"),
        (False, {}, "x must be finite, got False"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_range("x", value, **kwargs)

    class Custom(ValueError):
        pass

    with pytest.raises(Custom):
        check_range("x", -1.0, 0.0, error=Custom)
