"""The latency histogram as inline SVG: the HTML report stays one self-contained page, and the SDK needs no
plotting library. Buckets double in width, so the x axis is logarithmic and a marker (p50, p99, the budget)
sits where its value falls on it."""

from __future__ import annotations

import html
import math

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 260, 48, 40, 24
MARKER_COLOURS = {"budget": "#c62828", "p99": "#ef6c00", "p50": "#2e7d32"}


def _x(value_ms: float, first_ms: float, step: float) -> float:
    """Where ``value_ms`` falls: bucket i spans (first * 2^(i-1), first * 2^i]."""
    position = math.log2(value_ms / first_ms) + 1 if value_ms > 0 else 0.0
    return LEFT + max(0.0, position) * step


def svg_histogram(buckets: list[tuple[float, int]], markers: dict[str, float]) -> str:
    """Bars of ``(upper bound ms, count)`` buckets and a vertical line per named marker (in ms)."""
    if not buckets:
        return "<p>No samples: nothing to chart.</p>"
    first = buckets[0][0]
    # room for markers past the last bucket (a budget far above every sample still shows)
    last_needed = max(
        [len(buckets)] + [math.ceil(math.log2(v / first)) + 1 for v in markers.values() if v > 0]
    )
    step = (WIDTH - LEFT - 24) / last_needed  # room for the last label, centred on its edge
    tallest = max(count for _, count in buckets) or 1
    plot_height = HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="latency histogram" style="font:11px system-ui,sans-serif">',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - 8}" y2="{HEIGHT - BOTTOM}" stroke="#555"/>',
        f'<text x="4" y="{TOP}" fill="#555">{tallest}</text>',
        f'<text x="{WIDTH // 2}" y="{HEIGHT - 4}" fill="#555" text-anchor="middle">latency, ms (log scale; '
        "each bar up to its label)</text>",
    ]
    for index, (bound, count) in enumerate(buckets):
        height = plot_height * count / tallest
        x = LEFT + index * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" width="{max(1.0, step - 2):.1f}" '
            f'height="{height:.1f}" fill="#5c7cfa"><title>&lt;= {bound:g} ms: {count}</title></rect>'
        )
        if index % max(1, round(len(buckets) / 10)) == 0:
            parts.append(
                f'<text x="{x + step:.1f}" y="{HEIGHT - BOTTOM + 14}" fill="#555" '
                f'text-anchor="middle">{bound:g}</text>'
            )
    for row, (name, value) in enumerate(markers.items()):
        x = _x(value, first, step)
        colour = MARKER_COLOURS.get(name, "#333")
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="{colour}" '
            f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{TOP + 12 * row}" fill="{colour}">'
            f"{html.escape(name)} {value:.4g} ms</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
