"""The broker's clock and the NYSE calendar it trades by (``--clock always-open|exchange|replay|market``).

A clock is any object with ``now() -> datetime`` (aware, UTC). Three are provided:

* :class:`WallClock`: the machine's time;
* :class:`ManualClock`: a time that only moves when told (``set``/``advance``: tests, ``POST /admin/clock``);
* :class:`ReplayClock`: a manual clock that the bars themselves move: each bar that reaches the price book
  (a replay on the bus through ``--market-endpoint``, or ``POST /admin/advance``) sets the time to the bar's
  end, so a recorded day trades as it did.

``market`` is the replay clock without the calendar: the bars move the time and every moment trades. It is
what a deterministic run uses (``tradebridge demo --deterministic``): every timestamp the broker writes
(orders, fills, the equity history) comes from the bars, none from the machine, and a bar outside NYSE
hours (a seeded walk that runs past 16:00) still trades.

The :class:`Calendar` says what a moment is: ``pre`` (04:00-09:30 New York), ``regular`` (09:30-16:00,
13:00 on early-close days), ``post`` (until 20:00) or ``closed`` (nights, weekends and NYSE holidays).
The holidays come from pandas' holiday rules composed as NYSE observes them (New Year's Day on a Saturday
is not made up on the Friday before). :class:`AlwaysOpenCalendar` is the ``always-open`` mode: every
moment is ``regular``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)

NEW_YORK = ZoneInfo("America/New_York")
PRE_OPEN = time(4, 0)
OPEN = time(9, 30)
CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
POST_CLOSE = time(20, 0)
#: Alpaca's calendar covers these years (``GET /v2/calendar`` without bounds answers all of them)
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2029, 12, 31)
#: where a replay clock starts before its first bar: the seeded walk's first bar (2025-01-02 09:30 New York)
REPLAY_START = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
CLOCK_MODES = ("always-open", "exchange", "replay", "market")


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until ``set`` or ``advance`` moves it (never backwards)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock's time must be timezone-aware")
        with self._lock:
            self._now = max(self._now, moment.astimezone(UTC))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(seconds, 0.0))


class ReplayClock(ManualClock):
    """Moved by the bars that reach the price book (see :meth:`PaperEngine.on_prices`)."""


class _NyseHolidays(AbstractHolidayCalendar):  # type: ignore[misc]  # pandas is untyped here
    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-06-19", observance=nearest_workday),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


@lru_cache(maxsize=128)
def _holidays(year: int) -> frozenset[date]:
    found = _NyseHolidays().holidays(date(year, 1, 1), date(year, 12, 31))
    return frozenset(d.date() for d in found)


def _early_close(day: date) -> bool:
    """13:00 closes: the day after Thanksgiving, Christmas Eve and 3 July (when they are trading days)."""
    if day.month == 11 and day.weekday() == 4 and 22 <= day.day - 1 <= 28:
        return True
    return (day.month, day.day) in ((12, 24), (7, 3))


@dataclass(frozen=True, slots=True)
class TradingDay:
    date: date
    open: datetime
    close: datetime
    session_open: datetime
    session_close: datetime

    def to_json(self) -> dict[str, str]:
        """Alpaca's ``/v2/calendar`` item (times in New York, ``HH:MM`` and ``HHMM`` for the session)."""
        return {
            "date": self.date.isoformat(),
            "open": self.open.strftime("%H:%M"),
            "close": self.close.strftime("%H:%M"),
            "session_open": self.session_open.strftime("%H%M"),
            "session_close": self.session_close.strftime("%H%M"),
            "settlement_date": _settlement(self.date).isoformat(),
        }


def _settlement(day: date) -> date:
    """T+1 (T+2 before 2024-05-28), counted in trading days."""
    steps = 1 if day >= date(2024, 5, 28) else 2
    while steps:
        day += timedelta(days=1)
        if Calendar.is_trading_day(day):
            steps -= 1
    return day


class Calendar:
    """NYSE trading days and sessions."""

    always_open = False

    @staticmethod
    def is_trading_day(day: date) -> bool:
        return day.weekday() < 5 and day not in _holidays(day.year)

    def trading_day(self, day: date) -> TradingDay | None:
        if not self.is_trading_day(day):
            return None
        close = EARLY_CLOSE if _early_close(day) else CLOSE

        def at(moment: time) -> datetime:
            return datetime.combine(day, moment, NEW_YORK)

        return TradingDay(day, at(OPEN), at(close), at(PRE_OPEN), at(POST_CLOSE))

    def days(self, start: date, end: date) -> list[TradingDay]:
        out = []
        day = start
        while day <= end:
            found = self.trading_day(day)
            if found is not None:
                out.append(found)
            day += timedelta(days=1)
        return out

    def phase(self, moment: datetime) -> str:
        """``pre``, ``regular``, ``post`` or ``closed``."""
        day = self.trading_day(moment.astimezone(NEW_YORK).date())
        if day is None or not day.session_open <= moment < day.session_close:
            return "closed"
        if moment < day.open:
            return "pre"
        return "regular" if moment < day.close else "post"

    def next_edges(self, moment: datetime) -> tuple[datetime, datetime]:
        """The next regular open and close strictly after ``moment`` (the close of today if still to come)."""
        local = moment.astimezone(NEW_YORK).date()
        next_open = next_close = None
        for offset in range(0, 30):
            day = self.trading_day(local + timedelta(days=offset))
            if day is None:
                continue
            if next_open is None and day.open > moment:
                next_open = day.open
            if next_close is None and day.close > moment:
                next_close = day.close
            if next_open and next_close:
                return next_open, next_close
        raise ValueError(f"no trading day within 30 days of {moment}")

    def edges_between(self, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        """Session edges in ``(start, end]``, in time order: ``pre_open``, ``open``, ``close``, ``post_close``
        (moment, name)."""
        out: list[tuple[datetime, str]] = []
        day = start.astimezone(NEW_YORK).date()
        last = end.astimezone(NEW_YORK).date()
        while day <= last:
            found = self.trading_day(day)
            if found is not None:
                for moment, name in (
                    (found.session_open, "pre_open"),
                    (found.open, "open"),
                    (found.close, "close"),
                    (found.session_close, "post_close"),
                ):
                    if start < moment <= end:
                        out.append((moment, name))
            day += timedelta(days=1)
        return out


class AlwaysOpenCalendar(Calendar):
    """``--clock always-open``: orders trade at any hour; auctions and the close happen only when asked
    (``POST /admin/session``, ``POST /admin/expire``). ``/v2/clock`` and ``/v2/calendar`` still tell
    NYSE's."""

    always_open = True

    def phase(self, moment: datetime) -> str:
        return "regular"

    def edges_between(self, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        return []


def make_clock(mode: str, start: datetime | None) -> tuple[Clock, Calendar]:
    """The clock and calendar of a ``--clock`` mode; ``start`` freezes time at that moment (manual)."""
    if mode not in CLOCK_MODES:
        raise ValueError(f"unknown clock mode {mode!r} (expected one of {', '.join(CLOCK_MODES)})")
    if mode in ("replay", "market"):
        replay = ReplayClock(start or REPLAY_START)
        return replay, Calendar() if mode == "replay" else AlwaysOpenCalendar()
    clock: Clock = ManualClock(start) if start is not None else WallClock()
    return clock, AlwaysOpenCalendar() if mode == "always-open" else Calendar()
