"""FLEXlm dates: ``15-mar-2027``, and the two spellings of "never expires".

FLEXlm writes dates as day-month-year with an English month abbreviation. The expiry
field is ``permanent`` or a date; a year of 0 (``1-jan-0``, also ``1-jan-00`` and
``1-jan-0000``) is FLEXlm's older spelling of "permanent". poolsync refuses two-digit
years (``15-mar-27`` could be 1927 or 2027; FLEXlm's own reading of them changed over
its versions) and any other date in year 0.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Final

__all__ = ["format_date", "parse_date", "parse_expiry"]

_MONTHS: Final = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
_DATE: Final = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{1,4})")
_PERMANENT_YEARS: Final = frozenset({"0", "00", "0000"})


def _shown(text: str) -> str:
    return repr(text if len(text) <= 30 else text[:27] + "...")


def parse_date(text: str) -> date:
    """``15-mar-2027`` -> date(2027, 3, 15); ValueError says what is wrong."""
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{_shown(text)} is not a date (expected day-month-year, e.g. 15-mar-2027)"
        )
    day_text, month_text, year_text = match.groups()
    month_key = month_text.lower()
    if month_key not in _MONTHS:
        raise ValueError(
            f"{_shown(text)}: {month_text!r} is not a month (expected jan, feb, ... dec)"
        )
    if len(year_text) != 4:
        raise ValueError(f"{_shown(text)}: write the year with four digits")
    year, month, day = int(year_text), _MONTHS.index(month_key) + 1, int(day_text)
    if year < 1970:
        raise ValueError(
            f"{_shown(text)}: the year {year} is before FLEXlm's time "
            "(1970); for a permanent line write permanent"
        )
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise ValueError(
            f"{_shown(text)} is not a date: {calendar.month_name[month]} {year} has {days} days"
        )
    return date(year, month, day)


def parse_expiry(text: str) -> date | None:
    """An expiry field: None for ``permanent`` / ``1-jan-0``, else the last valid day."""
    if text.lower() == "permanent":
        return None
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{_shown(text)} is neither permanent nor a date (expected e.g. 15-mar-2027)"
        )
    if match.group(3) in _PERMANENT_YEARS:
        if match.group(1) in ("1", "01") and match.group(2).lower() == "jan":
            return None
        raise ValueError(f"{_shown(text)}: year 0 only means permanent as 1-jan-0")
    return parse_date(text)


def format_date(day: date) -> str:
    """date(2027, 3, 15) -> ``15-mar-2027``."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year:04d}"
