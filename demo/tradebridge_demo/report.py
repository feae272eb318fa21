"""The demo's numbers: the summary it prints, the consistency checks, the JSON report and the charts."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tradebridge_demo.observer import SeenSignal

HOP_LABELS = {
    "published_to_signal": "upstream event -> signal seen (bus)",
    "features": "features in the strategy (/metrics)",
    "signal_to_engine": "signal published -> engine (bus)",
    "signal_to_ack": "signal seen -> order acknowledged",
    "ack_to_fill": "order acknowledged -> fill seen",
    "published_to_fill": "upstream event -> fill seen (total)",
    "fill_seen": "broker fill -> fill seen (bus)",
}

#: The hops with one sample per signal, measured by the demo's bus observer (wall clock, one host); the
#: other two are the services' own: the strategy's features histogram and the engine's bus-hop metric.
SAMPLED_HOPS = ("published_to_signal", "signal_to_ack", "ack_to_fill", "fill_seen", "published_to_fill")
#: the hops drawn in ``latency.png`` (``fill_seen`` is a part of ``ack_to_fill``: in the summary only)
CHARTED_HOPS = ("published_to_signal", "signal_to_ack", "ack_to_fill", "published_to_fill")

PublishTimes = Mapping[tuple[str, int], int]


def observed_flow(signals: Sequence[SeenSignal], published: PublishTimes) -> dict[str, Any]:
    """Each signal seen on the bus with its hops, and the samples per hop.

    The strategy notes the bar a signal was made from by the bar's bus envelope (``bar_source``/``bar_seq``
    in its metadata, which only this measurement reads); ``published`` holds each bar's ``sent_at_us`` as
    the observer saw it. Every time is an envelope stamp, on one host's wall clock. ``unpublished_signals``
    counts signals whose bar was not seen (0 in a complete run).
    """
    samples: dict[str, list[float]] = {hop: [] for hop in SAMPLED_HOPS}
    records = []
    missing = 0
    ms = 1e-6
    for seen in signals:
        hops: dict[str, float] = {}
        sent = None
        if seen.bar_source is not None and seen.bar_seq is not None:
            sent = published.get((seen.bar_source, seen.bar_seq))
        if sent is None:
            missing += 1
        else:
            hops["published_to_signal"] = (seen.seen_ns - sent) * ms
        if seen.ack_ns is not None:
            hops["signal_to_ack"] = (seen.ack_ns - seen.seen_ns) * ms
            if seen.fill_ns is not None:
                hops["ack_to_fill"] = (seen.fill_ns - seen.ack_ns) * ms
        if seen.fill_ns is not None and sent is not None:
            hops["published_to_fill"] = (seen.fill_ns - sent) * ms
        for hop, value in hops.items():
            samples[hop].append(round(value, 6))
        seen.hops_ms = hops
        records.append(seen.to_json())
    return {"records": records, "latency_ms": samples, "unpublished_signals": missing}


def fill_seen_ms(signals: Sequence[SeenSignal], orders: Sequence[BrokerOrder]) -> list[float]:
    """Per filled order: the broker's fill time (its ``filled_at``) -> the ``filled`` OrderUpdate on the bus,
    as the observer saw it (one host, one wall clock)."""
    filled_at = {o.id: o.filled_at_ns for o in orders if o.filled_at_ns is not None}
    return [
        round((s.fill_ns - filled_at[s.order_id]) * 1e-6, 6)
        for s in signals
        if s.fill_ns is not None and s.order_id in filled_at
    ]


def histogram_summary(metrics_text: str, stage: str) -> dict[str, float | int | None]:
    """``count``, ``p50_ms``, ``p99_ms`` of one stage of a service's ``tradebridge_latency_seconds``
    histogram (its ``/metrics`` page), estimated as Prometheus's ``histogram_quantile`` does: linearly
    within the bucket holding the quantile."""
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "tradebridge_latency_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("stage") == stage:
                buckets.append((float(sample.labels["le"]), sample.value))
    buckets.sort()
    count = int(buckets[-1][1]) if buckets else 0

    def quantile(q: float) -> float | None:
        if not count:
            return None
        rank = q * count
        lower_bound, lower_count = 0.0, 0.0
        for bound, cumulative in buckets:
            if cumulative >= rank:
                if bound == float("inf"):
                    return lower_bound * 1e3  # beyond the last bound: Prometheus answers that bound
                inside = (rank - lower_count) / (cumulative - lower_count) if cumulative > lower_count else 1
                return (lower_bound + (bound - lower_bound) * inside) * 1e3
            lower_bound, lower_count = bound, cumulative
        return None

    return {"count": count, "p50_ms": quantile(0.50), "p99_ms": quantile(0.99)}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class BrokerOrder:
    """What the consistency checks need of one order at the broker."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    status: str
    filled_qty: float
    filled_avg_price: float | None
    #: the broker's own fill time (``filled_at``, ns since the epoch), when it has one
    filled_at_ns: int | None = None


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DemoResult:
    """Everything a run produced; :meth:`to_json` is the report file."""

    config: dict[str, Any]
    #: what the demo saw: ``bars`` and ``signals`` (the strategy's counts), ``records`` and ``latency_ms``
    #: (:func:`observed_flow`), ``features_latency`` (:func:`histogram_summary`), ``equity_curve``
    flow: dict[str, Any]
    engine: dict[str, str]
    orders: list[BrokerOrder]
    positions: dict[str, float]
    positions_start: dict[str, float]
    equity_start: float
    equity_end: float
    unrealized_pl: float
    duration_s: float
    checks: list[Check] = field(default_factory=list)

    # -- derived numbers ------------------------------------------------------------------------------------

    def engine_int(self, name: str) -> int:
        try:
            return int(float(self.engine.get(name, "0")))
        except ValueError:
            return 0

    def refusals(self) -> dict[str, int]:
        found = {
            k.removeprefix("refused_"): self.engine_int(k) for k in self.engine if k.startswith("refused_")
        }
        return {k: v for k, v in sorted(found.items()) if v and k != "total"}

    def order_statuses(self) -> dict[str, int]:
        """Final statuses of the orders at the broker ("canceled": still open when the data ended, so the
        engine's order timeout canceled them)."""
        counts: dict[str, int] = {}
        for o in self.orders:
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts

    def fills(self) -> list[BrokerOrder]:
        return [o for o in self.orders if o.filled_qty > 0]

    def latency_summary(self) -> dict[str, dict[str, float | int | None]]:
        """Per hop, in flow order: the observer's samples, the strategy's histogram, the engine's bus hop."""
        samples: Mapping[str, list[float]] = self.flow.get("latency_ms", {})
        summary: dict[str, dict[str, float | int | None]] = {
            hop: {
                "count": len(samples.get(hop, [])),
                "p50_ms": percentile(samples.get(hop, []), 50),
                "p99_ms": percentile(samples.get(hop, []), 99),
            }
            for hop in SAMPLED_HOPS
        }
        engine_hop: dict[str, float | int | None] = {
            "count": self.engine_int("signal_transit_samples"),
            "p50_ms": self.engine_float("signal_transit_p50_ms"),
            "p99_ms": self.engine_float("signal_transit_p99_ms"),
        }
        features: dict[str, float | int | None] = dict(
            self.flow.get("features_latency", {"count": 0, "p50_ms": None, "p99_ms": None})
        )
        return {
            "published_to_signal": summary["published_to_signal"],
            "features": features,
            "signal_to_engine": engine_hop,
            **{k: summary[k] for k in SAMPLED_HOPS[1:]},
        }

    def engine_float(self, name: str) -> float | None:
        try:
            return float(self.engine[name])
        except (KeyError, ValueError):
            return None

    def summary(self) -> dict[str, Any]:
        return {
            "bars": self.flow.get("bars", 0),
            "signals": self.flow.get("signals", 0),
            "orders": self.engine_int("orders_submitted"),
            "order_statuses": self.order_statuses(),
            "fills": len(self.fills()),
            "filled_shares": sum(o.filled_qty for o in self.fills()),
            "risk_refusals": self.refusals(),
            "pnl": round(self.equity_end - self.equity_start, 2),
            "unrealized_pl": round(self.unrealized_pl, 2),
            "equity_start": self.equity_start,
            "equity_end": self.equity_end,
            "positions": self.positions,
            "latency": self.latency_summary(),
            "duration_s": round(self.duration_s, 2),
            "consistent": all(c.ok for c in self.checks),
        }

    # -- consistency ----------------------------------------------------------------------------------------

    def run_checks(self) -> list[Check]:
        """Every fill matches an order of ours; broker positions equal the fills; every signal has a
        counted outcome."""
        records = {r["signal_id"]: r for r in self.flow.get("records", [])}
        by_order_id = {r["order_id"]: r for r in records.values() if r.get("order_id")}
        checks: list[Check] = []

        strangers = [o.client_order_id for o in self.fills() if o.id not in by_order_id]
        mismatched = [
            o.client_order_id
            for o in self.fills()
            if o.id in by_order_id and not math.isclose(by_order_id[o.id]["filled_qty"], o.filled_qty)
        ]
        checks.append(
            Check(
                "every fill matches an order",
                not strangers and not mismatched,
                f"{len(self.fills())} filled orders at the broker"
                + (f"; not ours: {strangers[:5]}" if strangers else "")
                + (f"; fill seen on the bus differs: {mismatched[:5]}" if mismatched else ""),
            )
        )

        from_fills: dict[str, float] = {}
        for o in self.fills():
            sign = 1.0 if o.side == "buy" else -1.0
            from_fills[o.symbol] = from_fills.get(o.symbol, 0.0) + sign * o.filled_qty
        # Against the positions held before the run (none at the mock; maybe some at Alpaca paper).
        moved = {
            s: self.positions.get(s, 0.0) - self.positions_start.get(s, 0.0)
            for s in set(self.positions) | set(self.positions_start)
        }
        symbols = {s for s, q in from_fills.items() if q} | {s for s, q in moved.items() if q}
        diffs = {s: (from_fills.get(s, 0.0), moved.get(s, 0.0)) for s in sorted(symbols)}
        bad = {s: v for s, v in diffs.items() if not math.isclose(v[0], v[1], abs_tol=1e-9)}
        checks.append(
            Check(
                "broker positions equal the fills",
                not bad,
                ", ".join(f"{s} {q:+g}" for s, (q, _) in diffs.items()) or "flat"
                if not bad
                else "; ".join(f"{s}: fills {f:+g} vs position change {p:+g}" for s, (f, p) in bad.items()),
            )
        )

        signals = int(self.flow.get("signals", 0))  # the strategy's own count
        seen = len(records)
        received = self.engine_int("signals_received")
        placed = self.engine_int("orders_submitted")
        refused = self.engine_int("refused_total")
        unresolved = [sid for sid, r in records.items() if r.get("status") is None]
        lost = signals != seen or signals != received or received != placed + refused or unresolved
        checks.append(
            Check(
                "no signal lost without a counted reason",
                not lost,
                f"published {signals}, seen on the bus {seen}, engine received {received} = {placed} orders "
                f"+ {refused} refused"
                + (f"; {len(unresolved)} without an outcome: {unresolved[:5]}" if unresolved else ""),
            )
        )
        self.checks = checks
        return checks

    # -- output ---------------------------------------------------------------------------------------------

    def outcome(self) -> dict[str, Any]:
        from tradebridge_demo.outcome import outcome

        return outcome(self)

    def to_json(self) -> dict[str, Any]:
        from tradebridge_demo.outcome import fingerprint

        decided = self.outcome()
        return {
            "summary": {**self.summary(), "fingerprint": fingerprint(decided)},
            "outcome": decided,
            "checks": [c.__dict__ for c in self.checks],
            "config": self.config,
            "engine_metrics": self.engine,
            "orders": [o.__dict__ for o in self.orders],
            "equity_curve": self.flow.get("equity_curve", []),
            "latency_ms": self.flow.get("latency_ms", {}),
            "features_latency": self.flow.get("features_latency", {}),
            "signals": self.flow.get("records", []),
        }

    def render(self) -> str:
        from tradebridge_demo.outcome import fingerprint

        s = self.summary()
        lines = [
            "",
            "tradebridge demo: summary",
            f"  bars          {s['bars']:>8}   ({len(self.config.get('symbols', []))} symbols, seed "
            f"{self.config.get('seed')}, {s['duration_s']:.1f}s)",
            f"  signals       {s['signals']:>8}",
            f"  orders        {s['orders']:>8}   ("
            + ", ".join(f"{k} {v}" for k, v in sorted(s["order_statuses"].items()))
            + ")",
            f"  fills         {s['fills']:>8}   ({s['filled_shares']:g} shares)",
            f"  risk refusals {sum(s['risk_refusals'].values()):>8}   "
            + (", ".join(f"{k} {v}" for k, v in s["risk_refusals"].items()) or "none"),
            f"  P&L           {s['pnl']:>+8.2f}   (equity {s['equity_start']:,.2f} -> "
            f"{s['equity_end']:,.2f}; unrealized {s['unrealized_pl']:+.2f})",
            "  positions     "
            + (", ".join(f"{k} {v:+g}" for k, v in sorted(s["positions"].items())) or "flat"),
            f"  outcome       {fingerprint(self.outcome())}   ("
            + (
                "deterministic: the same seed or capture prints the same"
                if self.config.get("deterministic")
                else "not deterministic: --no-deterministic"
            )
            + ")",
            "",
            f"  {'latency (ms)':<36} {'p50':>8} {'p99':>8} {'n':>6}",
        ]
        for hop, values in s["latency"].items():
            p50, p99 = values["p50_ms"], values["p99_ms"]
            shown = [f"{v:8.3f}" if isinstance(v, float) else f"{'-':>8}" for v in (p50, p99)]
            lines.append(f"  {HOP_LABELS[hop]:<36} {shown[0]} {shown[1]} {values['count']:>6}")
        lines.append("")
        for check in self.checks:
            lines.append(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
        return "\n".join(lines)


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def decimal_float(value: Decimal | float | int | None) -> float:
    return 0.0 if value is None else float(value)


def write_report(result: DemoResult, directory: Path) -> list[Path]:
    """``report.json`` plus ``equity.png`` and ``latency.png``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.json"
    path.write_text(json.dumps(result.to_json(), indent=2, default=str))
    return [path, *_charts(result, directory)]


def _charts(result: DemoResult, directory: Path) -> Iterable[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    curve = result.flow.get("equity_curve", [])
    fig, ax = plt.subplots(figsize=(8, 4))
    if curve:
        ax.plot([p[0] for p in curve], [p[1] for p in curve], color="#1f77b4", linewidth=1.5)
    ax.axhline(result.equity_start, color="grey", linewidth=0.8, linestyle="--")
    ax.set_title("Equity at the broker during the run")
    ax.set_xlabel("seconds since the demo started")
    ax.set_ylabel("equity ($)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    equity = directory / "equity.png"
    fig.savefig(equity, dpi=110)
    plt.close(fig)

    samples = result.flow.get("latency_ms", {})
    fig, grid = plt.subplots(2, 3, figsize=(14, 6.5))
    axes = list(grid.flat)
    # four hops with one sample per signal; the last two cells: the services' own measurements
    summary = result.latency_summary()
    own_hops = (("features", "the strategy"), ("signal_to_engine", "the engine"))
    for ax, (hop, who) in zip(axes[4:], own_hops, strict=True):
        ax.axis("off")
        own = summary[hop]
        if own["count"]:
            ax.text(
                0.02,
                0.5,
                f"{HOP_LABELS[hop]}\nmeasured by {who} (n={own['count']}):\n"
                f"p50 {_ms(own['p50_ms'])} ms, p99 {_ms(own['p99_ms'])} ms",
                fontsize=10,
                va="center",
            )
    for ax, hop in zip(axes, CHARTED_HOPS, strict=False):
        values = samples.get(hop, [])
        if values:
            ax.hist(values, bins=30, color="#ff7f0e", alpha=0.85)
            p50, p99 = percentile(values, 50), percentile(values, 99)
            ax.axvline(p50 or 0.0, color="black", linewidth=1, label=f"p50 {p50:.3f} ms")
            ax.axvline(p99 or 0.0, color="red", linewidth=1, label=f"p99 {p99:.3f} ms")
            ax.legend(fontsize=7)
        ax.set_title(f"{HOP_LABELS[hop]} (n={len(values)})", fontsize=9)
        ax.set_xlabel("ms")
    fig.suptitle(
        "Per-hop latency seen from the outside: the demo's bus observer, from each bar's upstream event "
        "(one host, one wall clock)",
        fontsize=11,
    )
    fig.tight_layout()
    latency = directory / "latency.png"
    fig.savefig(latency, dpi=100)
    plt.close(fig)
    return [equity, latency]
