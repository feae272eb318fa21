"""The mock's bar history is bounded, and positions in it stay absolute when old bars are let go."""

from __future__ import annotations

import pytest
from tradebridge_mocks.broker.prices import Bar, PriceBook


def _bar(i: int) -> Bar:
    return Bar(1_735_828_200_000 + 60_000 * i, 100.0, 101.0, 99.0, 100.0 + i / 100, 1_000.0)


def test_history_is_bounded_and_counts_every_bar() -> None:
    book = PriceBook(seed=7, symbols=("AAPL",), max_history=10)
    for i in range(1_000):
        book.apply_bar("AAPL", _bar(i))
    kept = book.bars("AAPL")
    assert 10 <= len(kept) <= 11  # trimmed in chunks of a tenth
    assert book.bars_seen("AAPL") == 1_000
    assert kept[-1] == _bar(999)
    assert [b.timestamp_ms for b in kept] == sorted(b.timestamp_ms for b in kept)


def test_a_replaced_bar_is_not_counted_twice() -> None:
    book = PriceBook(seed=7, symbols=("AAPL",), max_history=5)
    book.apply_bar("AAPL", _bar(0))
    book.apply_bar("AAPL", _bar(0))
    assert book.bars_seen("AAPL") == 1


def test_a_history_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="max_history"):
        PriceBook(seed=7, max_history=0)
