"""The soak's arithmetic, kept apart from its processes so it is unit-tested on its own: histogram
parsing, p99 over one window from two cumulative snapshots, and the verdict (growth and drift)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

#: One histogram snapshot: upper bound (seconds, +inf last) -> cumulative count.
Buckets = dict[float, float]

#: Growth allowed between the mark and the end (a fraction of the value at the mark).
GROWTH_LIMIT = 0.10
#: A p99 may grow to this many times its baseline before it counts as drift.
DRIFT_LIMIT = 2.0
#: Open descriptors always move by one or two (an HTTP scrape, a broker connection): growth below this
#: many is never a leak, whatever the percentage.
FD_SLACK = 3
#: A p99 at or under this (seconds) never counts as drift: on a loaded machine (the soak's four processes
#: keep two cores busy) scheduling alone moves a Python hop's p99 between 1 and 15 ms from one second to
#: the next, while a real backlog (a consumer falling behind) climbs past this within seconds.
DRIFT_FLOOR_S = 0.010
#: RSS and fds at a mark are taken over the samples of this many seconds, so one transient spike (a
#: burst of orders, a garbage collection) is neither the baseline nor the end: RSS as their median, fds
#: as their floor (minimum). A process whose HTTP client keeps a pool of connections for several threads
#: (the engine's submission workers and broker readers) opens and closes descriptors all the time (the
#: engine's count moved between 46 and 53 within the last minute of a 10-minute soak, 47-50 in minute 2):
#: a median lands anywhere in that band, while a leaked descriptor is never closed and raises the floor.
SETTLE_S = 5.0


def parse_histograms(text: str) -> dict[str, Buckets]:
    """Every histogram series of a Prometheus text page, keyed ``family{label="value",...}``."""
    out: dict[str, Buckets] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            key = family.name + "".join(f"{{{k}={v}}}" for k, v in sorted(labels.items()))
            out.setdefault(key, {})[float(sample.labels["le"])] = sample.value
    return out


def window_quantile(before: Buckets | None, after: Buckets, q: float = 0.99) -> tuple[float | None, int]:
    """The ``q`` quantile of what was observed between two cumulative snapshots (linear inside a bucket,
    as Prometheus' ``histogram_quantile``) and how many observations that was; None when there were none.
    A counter that went down (a restarted process) counts from zero."""
    bounds = sorted(after)
    deltas = [after[b] - (before or {}).get(b, 0.0) for b in bounds]
    if any(d < 0 for d in deltas):
        deltas = [after[b] for b in bounds]
    total = deltas[-1] if deltas else 0.0
    if total <= 0:
        return None, 0
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, deltas, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower_bound, int(total)  # past the last finite bound: its lower edge, as Prometheus
            inside = count - lower_count
            fraction = (rank - lower_count) / inside if inside > 0 else 1.0
            return lower_bound + (bound - lower_bound) * fraction, int(total)
        lower_bound, lower_count = bound, count
    return bounds[-1], int(total)


@dataclass
class Finding:
    """One check of the verdict: what, its two values, and whether it passed."""

    check: str  # "rss", "fds" or "p99"
    subject: str  # process, or process/hop
    start: float | None
    end: float | None
    limit: str
    ok: bool

    def render(self) -> str:
        def fmt(v: float | None) -> str:
            if v is None:
                return "-"
            if self.check == "rss":
                return f"{v / 1e6:.1f} MB"
            if self.check == "p99":
                return f"{v * 1e3:.3f} ms"
            return f"{v:g}"

        return (
            f"  {'ok  ' if self.ok else 'FAIL'}  {self.check:<4} {self.subject:<48} "
            f"{fmt(self.start):>12} -> {fmt(self.end):>12}  ({self.limit})"
        )


@dataclass
class Windows:
    """Where each check looks, in seconds since sampling started."""

    growth_from: float  # RSS and fds at this mark vs the end
    baseline: tuple[float, float]  # p99 baseline window
    final: tuple[float, float]  # p99 window compared to it

    @classmethod
    def for_run(cls, seconds: float, growth_from: float) -> Windows:
        """The first full minute after warm-up vs the last minute; a shorter run splits what follows the
        warm-up (``growth_from``) in two halves, e.g. 20-40 s vs 40-60 s for a 60-s run."""
        span = min(60.0, (seconds - growth_from) / 2)
        return cls(growth_from, (growth_from, growth_from + span), (seconds - span, seconds))


@dataclass
class Series:
    """What one process showed over time: (t, value) per sample."""

    rss: list[tuple[float, float]] = field(default_factory=list)
    fds: list[tuple[float, float]] = field(default_factory=list)
    p99: dict[str, list[tuple[float, float | None, int]]] = field(default_factory=dict)
    #: CPU used over each 1-s interval, in cores (1.0 = one core busy): not a check, the explanation of
    #: one (a hop whose p99 drifts because a process works harder every minute, not because of noise)
    cpu: list[tuple[float, float]] = field(default_factory=list)


def _median_in(points: Iterable[tuple[float, float]], start: float, end: float) -> float | None:
    values = [v for t, v in points if start <= t <= end]
    return statistics.median(values) if values else None


def _floor_in(points: Iterable[tuple[float, float]], start: float, end: float) -> float | None:
    values = [v for t, v in points if start <= t <= end]
    return min(values) if values else None


def _median_p99(points: Iterable[tuple[float, float | None, int]], start: float, end: float) -> float | None:
    values = [v for t, v, _ in points if start <= t <= end and v is not None]
    return statistics.median(values) if values else None


def verdict(series: Mapping[str, Series], windows: Windows, end: float) -> list[Finding]:
    """Every check of the soak: RSS (median) and fds (floor) may grow by :data:`GROWTH_LIMIT` from the mark
    to the end, a
    hop's p99 (median of its 1-s windows) may not exceed :data:`DRIFT_LIMIT` times its baseline."""
    findings: list[Finding] = []
    mark = windows.growth_from
    for name, s in series.items():
        for check, points, slack, level in (
            ("rss", s.rss, 0.0, _median_in),
            ("fds", s.fds, float(FD_SLACK), _floor_in),
        ):
            start = level(points, mark - SETTLE_S, mark)
            last = level(points, end - SETTLE_S, end)
            allowed = None if start is None else max(start * (1 + GROWTH_LIMIT), start + slack)
            ok = start is not None and last is not None and allowed is not None and last <= allowed
            limit = f"<= +{GROWTH_LIMIT:.0%}" + (f" or +{slack:g}" if slack else "")
            findings.append(Finding(check, name, start, last, limit, ok))
        for hop, hop_points in sorted(s.p99.items()):
            base = _median_p99(hop_points, *windows.baseline)
            final = _median_p99(hop_points, *windows.final)
            if base is None and final is None:
                continue  # a hop that saw no traffic in either window (e.g. fills never came): nothing drifts
            ok = final is None or final <= DRIFT_FLOOR_S or (base is not None and final <= DRIFT_LIMIT * base)
            limit = f"<= {DRIFT_LIMIT:g}x or {DRIFT_FLOOR_S * 1e3:g} ms"
            findings.append(Finding("p99", f"{name}/{hop}", base, final, limit, ok))
    return findings


def summary_table(findings: Sequence[Finding]) -> str:
    return "\n".join(f.render() for f in findings)


def cpu_table(series: Mapping[str, Series], windows: Windows) -> str:
    """Each process's mean CPU (cores) over the p99 baseline window and the final one."""

    def mean_in(points: Sequence[tuple[float, float]], span: tuple[float, float]) -> str:
        values = [v for t, v in points if span[0] <= t <= span[1]]
        return f"{statistics.fmean(values):.2f}" if values else "-"

    rows = []
    for name, s in series.items():
        first, last = mean_in(s.cpu, windows.baseline), mean_in(s.cpu, windows.final)
        rows.append(f"  cpu   {name:<48} {first:>12} -> {last:>12}  (cores, not a check)")
    return "\n".join(rows)
