"""Exact Kubernetes resource quantities (`1`, `500m`, `1.5`, `2Ki`, `1e3`), for TrafficSplit v1alpha1 weights.

A quantity is parsed to an exact `Fraction`, never a float, so `1` vs `500m` is exactly 2:1. The grammar is
Kubernetes' (`apimachinery/pkg/api/resource`): an optionally signed decimal number followed by a binary
suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m "" k M G T P E) or a decimal exponent (`e3`, `E-2`).
Input size and exponents are bounded so a hostile value cannot make the parser slow or the numbers huge.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_TEXT = 64
MAX_EXPONENT = 30

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>\d+(?:\.\d*)?|\.\d+)"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?"
)
_SUFFIXES: dict[str, Fraction] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    **{suffix: Fraction(1024**power) for power, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)},
}


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity (the message says what is expected)."""


def parse_quantity(value: str | int) -> Fraction:
    """The exact value of a quantity; a Python int is taken as a plain number."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise QuantityError(f"a quantity is a string or an integer, not {type(value).__name__}")
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise QuantityError(f"a quantity is at most {MAX_TEXT} characters")
    found = _QUANTITY.fullmatch(text)
    if found is None:
        raise QuantityError(f"{text!r} is not a quantity such as 1, 500m, 1.5 or 2k")
    number = Fraction(found["number"])
    if found["exponent"]:
        number *= _power_of_ten(int(found["exponent"][1:]))
    elif found["suffix"]:
        number *= _SUFFIXES[found["suffix"]]
    return -number if found["sign"] == "-" else number


def _power_of_ten(exponent: int) -> Fraction:
    if abs(exponent) > MAX_EXPONENT:
        raise QuantityError(f"a quantity's exponent must be within ±{MAX_EXPONENT}")
    return Fraction(10) ** exponent


def milli_value(value: str | int) -> Fraction:
    """The quantity in thousandths (`1` -> 1000, `500m` -> 500, `0.5m` -> 1/2)."""
    return parse_quantity(value) * 1000


def format_milli(milli: int) -> str:
    """The shortest quantity text for a whole number of thousandths (1000 -> "1", 500 -> "500m")."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
