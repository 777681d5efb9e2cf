"""What a family's curves look like: the Plot it declares for each of the Train tab's two charts."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plot:
    """One line chart of a family's series: history column -> the series' name in the legend, and its labels."""

    columns: dict  # history column (a name in the family's series) -> the series' name in the legend
    label: str
    y_title: str


def series_plots(name: str, series: tuple[str, ...]) -> tuple[Plot, Plot]:
    """Two charts for a family that declares none: its first series, then the rest, by their own names."""
    return (Plot({s: s for s in series[:1]}, f"{name}: {', '.join(series[:1])}", "value"),
            Plot({s: s for s in series[1:]}, f"{name}: {', '.join(series[1:])}", "value"))
