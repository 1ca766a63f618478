"""The revenue-per-day chart as SVG, drawn directly: one bar per day, labelled axes, a title,
and each bar's value in its <title> (a tooltip, and text for screen readers). Bars are solid
dark grey on white with the axes in black: readable printed or without colour. Every text
that reaches the document passes through xml.sax.saxutils.escape."""

from __future__ import annotations

from datetime import date
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 800, 400
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 40, 60
Y_TICKS = 5


# ISO 4217 currencies without minor units (the rest used here have two decimals).
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
                          "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})  # fmt: skip


def money_label(minor: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{minor:,} {currency}"
    return f"{minor / 100:,.2f} {currency}"


def _nice_max(value: int) -> int:
    """A round top for the y axis, at or above `value` (1, 2, 2.5 or 5 times a power of 10)."""
    if value <= 0:
        return 100
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return 10 * magnitude


def revenue_chart(currency: str, days: list[tuple[date, int]], title: str) -> str:
    """An SVG document of revenue (minor units of `currency`) per day."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max((revenue for _, revenue in days), default=0))
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.8, 1.0)
    label_every = max(1, len(days) // 10)  # at most ~10 date labels under the axis
    x0, y0 = LEFT, TOP + plot_h
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title"'
        ' font-family="sans-serif" font-size="12">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2:.0f}" y="24" text-anchor="middle" font-size="16">'
        f"{escape(title)}</text>",
        '<g class="y-axis">',
    ]
    for i in range(Y_TICKS + 1):
        value = top * i // Y_TICKS
        y = y0 - plot_h * i / Y_TICKS
        out.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + plot_w}" y2="{y:.1f}"'
            ' stroke="#cccccc" stroke-dasharray="2,3"/>'
        )
        out.append(
            f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(money_label(value, currency))}</text>"
        )
    out.append("</g>")
    out.append('<g class="bars">')
    for i, (day, revenue) in enumerate(days):
        h = plot_h * revenue / top if top else 0
        x = x0 + i * slot + (slot - bar_w) / 2
        label = f"{day.isoformat()}: {money_label(revenue, currency)}"
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{y0 - h:.1f}" width="{bar_w:.1f}"'
            f' height="{h:.1f}" fill="#404040" data-day={quoteattr(day.isoformat())}'
            f' data-revenue="{revenue}"><title>{escape(label)}</title></rect>'
        )
    out.append("</g>")
    out.append('<g class="x-axis">')
    for i, (day, _) in enumerate(days):
        if i % label_every == 0:
            x = x0 + (i + 0.5) * slot
            out.append(
                f'<text x="{x:.1f}" y="{y0 + 18}" text-anchor="middle">'
                f"{escape(day.strftime('%m-%d'))}</text>"
            )
    out.append("</g>")
    out.extend(
        [
            f'<line x1="{x0}" y1="{y0}" x2="{x0 + plot_w}" y2="{y0}" stroke="#000000"/>',
            f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="#000000"/>',
            f'<text x="{x0 + plot_w / 2:.0f}" y="{HEIGHT - 16}" text-anchor="middle">'
            "Day (UTC)</text>",
            f'<text x="16" y="{TOP + plot_h / 2:.0f}" text-anchor="middle"'
            f' transform="rotate(-90 16 {TOP + plot_h / 2:.0f})">'
            f"{escape(f'Revenue ({currency})')}</text>",
            "</svg>",
        ]
    )
    return "\n".join(out) + "\n"
