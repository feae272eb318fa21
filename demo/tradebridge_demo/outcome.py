"""What a run decided, without how fast it went: the signals, the orders, the fills and the P&L, in a form two
runs can be compared by (``report.json``'s ``outcome``, and its ``fingerprint`` in the summary).

Left out, because they are not decisions: every wall-clock time (latencies, the bus envelopes' stamps, the
equity curve's sampling) and the run's id, a random prefix of the signal and client order ids (Alpaca paper
keeps client order ids for good, so two runs must never share one): ``<run>-12`` becomes ``12``.
Kept: a signal's timestamp (the bar's time when the strategy stamps market time), the broker's order ids and
fill times (drawn from its seeded generator, stamped by its bar-driven clock in a deterministic run).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradebridge_demo.report import DemoResult

__all__ = ["fingerprint", "outcome"]


def _local(identifier: str | None, run_id: str) -> str | None:
    """An id without this run's prefix (``tb-<run>-7`` -> ``tb-7``, ``<run>b-7`` -> ``b-7``)."""
    if identifier is None or not run_id:
        return identifier
    for prefix in (f"tb-{run_id}", run_id):
        if identifier.startswith(prefix):
            rest = identifier[len(prefix) :].lstrip("-")
            return ("tb-" if prefix.startswith("tb-") else "") + rest
    return identifier


def _order_key(item: dict[str, Any]) -> tuple[str, int]:
    """Signal order: ``b-12`` after ``12`` after ``9``."""
    text = str(item.get("signal_id") or item.get("client_order_id") or "")
    head, _, number = text.rpartition("-")
    return (head, int(number)) if number.isdigit() else (text, -1)


def outcome(result: DemoResult) -> dict[str, Any]:
    """The run's decisions, ids made run-independent, in signal order."""
    run_id = str(result.config.get("run_id", ""))
    signals = []
    for record in result.flow.get("records", []):
        signals.append(
            {
                "signal_id": _local(record.get("signal_id"), run_id),
                "symbol": record.get("symbol"),
                "direction": record.get("direction"),
                "strength": record.get("strength"),
                "price": record.get("price"),
                "timestamp": record.get("timestamp"),
                "status": record.get("status"),
                "reason": record.get("reason"),
                "order_id": record.get("order_id"),
                "qty": record.get("qty"),
                "filled_qty": record.get("filled_qty"),
                "filled_avg_price": record.get("filled_avg_price"),
            }
        )
    orders = [
        {
            "client_order_id": _local(o.client_order_id, run_id),
            "id": o.id,
            "symbol": o.symbol,
            "side": o.side,
            "status": o.status,
            "filled_qty": o.filled_qty,
            "filled_avg_price": o.filled_avg_price,
            "filled_at_ns": o.filled_at_ns,
        }
        for o in result.orders
    ]
    return {
        "signals": sorted(signals, key=_order_key),
        "orders": sorted(orders, key=_order_key),
        "risk_refusals": result.refusals(),
        "pnl": round(result.equity_end - result.equity_start, 2),
        "equity_end": round(result.equity_end, 2),
        "unrealized_pl": round(result.unrealized_pl, 2),
        "positions": dict(sorted(result.positions.items())),
    }


def fingerprint(decided: dict[str, Any]) -> str:
    """A short digest of :func:`outcome`: two runs that decided the same print the same one."""
    text = json.dumps(decided, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
