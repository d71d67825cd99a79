"""The bulletin chart: completion rate by unit as bars against the plan line (PNG, matplotlib).

Built on a bare `Figure` (no pyplot, no global state), with the CJK font for Chinese labels.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bot.services.bulletins.content import BulletinData, figures
from bot.services.shared.fonts import cjk_font_family
from bot.util.timefmt import period_text

BAR_COLOR = "#2f6db5"
BEHIND_COLOR = "#c0392b"
PLAN_COLOR = "#e67e22"


def build_chart(data: BulletinData, t: Any) -> Figure:
    """A figure with one bar per unit (percent complete, best first) and the plan line."""
    family = cjk_font_family()
    rows = figures(data).rows
    n = max(len(rows), 1)
    width = min(max(6.0, 0.45 * n + 2.0), 40.0)
    fig = Figure(figsize=(width, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = [r.unit.display_name(t.locale) for r in rows]
    heights = [(r.rate or 0.0) * 100 for r in rows]
    plan = None if data.plan_rate is None else data.plan_rate * 100
    colors = [BEHIND_COLOR if r.behind else BAR_COLOR for r in rows]
    bars = ax.bar(range(len(rows)), heights, color=colors, label=t("Completion rate"))
    for patch in bars.patches:
        patch.set_gid("completion")
    if plan is not None:
        ax.axhline(plan, color=PLAN_COLOR, linestyle="--", linewidth=1.5,
                   label=t("Plan: %(rate)s") % {"rate": f"{plan:.1f}%"}, gid="plan")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=60 if n > 6 else 0, ha="right" if n > 6 else "center",
                       fontsize=8 if n > 30 else 9, fontfamily=family)
    ax.set_ylabel(t("Completion rate (%)"), fontfamily=family)
    top = max([*heights, plan or 0.0, 100.0])
    ax.set_ylim(0, top * 1.08)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    period = period_text(data.period_start, data.period_end, t.locale)
    ax.set_title(f"{data.title(t.locale)}  {period}", fontfamily=family, fontsize=11)
    ax.legend(loc="upper right", prop={"family": family, "size": 9})
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def bar_colors(fig: Figure) -> list[str]:
    """The colours of the completion bars (BEHIND_COLOR marks a lagging unit), for checks."""
    from matplotlib.colors import to_hex

    ax = fig.axes[0]
    return [to_hex(p.get_facecolor()) for p in ax.patches
            if isinstance(p, Rectangle) and p.get_gid() == "completion"]


def bar_labels(fig: Figure) -> list[str]:
    """The unit names under the bars, left to right, for checks."""
    return [label.get_text() for label in fig.axes[0].get_xticklabels()]


def bar_heights(fig: Figure) -> list[float]:
    """The heights of the completion bars in a chart built by `build_chart` (for checks)."""
    ax = fig.axes[0]
    return [float(p.get_height()) for p in ax.patches
            if isinstance(p, Rectangle) and p.get_gid() == "completion"]


def chart_png(data: BulletinData, t: Any) -> bytes:
    """The chart as PNG bytes."""
    fig = build_chart(data, t)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
