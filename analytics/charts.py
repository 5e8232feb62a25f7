"""Plotly figures. Missing data is drawn as a gap with a grey band, never as zero."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ["#c0392b", "#2c3e50", "#e67e22", "#16a085", "#8e44ad", "#7f8c8d", "#d35400", "#27ae60"]
#: line styles per series, so overlapping lines stay readable without colour (and in print)
DASHES = ["solid", "dot", "dash", "longdash", "dashdot", "longdashdot"]


#: below this largest count, plotly's automatic ticks fall between whole numbers (0, 0.5, 1...), which ",d" prints
#: rounded as 0, 1, 1, 2, 2: such axes get a tick at every whole number instead
SMALL_COUNT_AXIS = 10


def integer_dtick(top: float | None) -> int | None:
    """The tick step a count axis reaching `top` needs: 1 for small ranges, None (plotly's own, always a whole step
    of 1, 2, 5, 10... at these sizes) above SMALL_COUNT_AXIS."""
    return 1 if top is None or top != top or top < SMALL_COUNT_AXIS else None


def _count_axis(fig: go.Figure, title: str, **where) -> None:
    """A y axis of counts: from zero, one tick per whole number on small ranges (never 0, 1, 1, 2), thousands
    separated, with its unit in the title. The range is read from the figure's own traces."""
    ys = [float(v) for trace in fig.data if trace.y is not None for v in trace.y if v is not None and v == v]
    dtick = integer_dtick(max(ys, default=None))
    fig.update_yaxes(title_text=title, rangemode="tozero", tickformat=",d", **where,
                     **({"tick0": 0, "dtick": dtick} if dtick else {}))


def _spans(months: pd.Series, missing: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Contiguous runs of months where `missing` is true, as (first, last) pairs."""
    runs, start, prev = [], None, None
    for month, miss in zip(months, missing, strict=True):
        if miss and start is None:
            start = month
        if not miss and start is not None:
            runs.append((start, prev))
            start = None
        prev = month
    if start is not None:
        runs.append((start, prev))
    return runs


def monthly_lines(series: dict[str, pd.DataFrame], title: str, y_title: str = "incidents per month") -> go.Figure:
    """One line per label over (month, n, status, note) frames; no-data months are gaps in a grey band."""
    fig = go.Figure()
    any_frame = None
    for i, (label, frame) in enumerate(series.items()):
        any_frame = frame
        colour = PALETTE[i % len(PALETTE)]
        partial = frame["status"].eq("partial")
        fig.add_trace(go.Scatter(
            x=frame["month"], y=frame["n"], name=label, mode="lines+markers", connectgaps=False,
            line={"color": colour, "width": 2, "dash": DASHES[i % len(DASHES)]},
            marker={"size": [8 if p else 4 for p in partial], "symbol": ["circle-open" if p else "circle" for p in partial]},
            customdata=frame[["status", "note"]].fillna("").to_numpy(),
            hovertemplate="%{x|%b %Y}: %{y}<br>%{customdata[0]} %{customdata[1]}<extra>" + label + "</extra>",
        ))
    if any_frame is not None:
        missing = pd.concat([f["n"].isna() for f in series.values()], axis=1).all(axis=1)
        for first, last in _spans(any_frame["month"], missing):
            fig.add_vrect(x0=first - pd.Timedelta(days=15), x1=last + pd.Timedelta(days=15), fillcolor="#bbbbbb",
                          opacity=0.25, line_width=0, annotation_text="no data", annotation_position="top left",
                          annotation_font_size=10)
    fig.update_layout(title=title, xaxis_title="month", hovermode="x unified", height=420,
                      legend={"orientation": "h", "y": -0.2}, margin={"l": 40, "r": 10, "t": 50, "b": 10})
    _count_axis(fig, y_title)
    return fig


def yearly_rates(frames: dict[str, pd.DataFrame], title: str) -> go.Figure:
    """Annual rates per 100,000 residents, one panel per series (murder is a tenth of aggravated assault: on one axis
    it would be flat); years without data are gaps."""
    fig = make_subplots(rows=len(frames), cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=[f"{label} per 100,000 residents" for label in frames])
    for i, (label, frame) in enumerate(frames.items()):
        rate = frame["n"] / frame["population"].astype(float) * 100_000
        fig.add_trace(go.Scatter(x=frame["year"], y=rate.round(1), name=label, mode="lines+markers", connectgaps=False,
                                 line={"color": PALETTE[i % len(PALETTE)]}, customdata=frame[["n"]].to_numpy(),
                                 hovertemplate="%{x}: %{y} per 100,000 (%{customdata[0]:,} in the year)<extra>"
                                               + label + "</extra>"), row=i + 1, col=1)
        fig.update_yaxes(title_text="per 100,000", rangemode="tozero", row=i + 1, col=1)
    fig.update_xaxes(title_text="year", dtick=1, row=len(frames), col=1)
    fig.update_layout(title=title, height=220 * len(frames) + 80, showlegend=False,
                      margin={"l": 40, "r": 10, "t": 70, "b": 10})
    return fig


def indexed_trend(trend: pd.DataFrame, area: str) -> go.Figure:
    """The area's monthly counts against the city's, each as a percentage of its own average, so a small area and
    the city share an axis; months without data are gaps."""
    fig = go.Figure([go.Scatter(x=trend["month"], y=trend["area_index"], name=area, connectgaps=False,
                                line={"color": PALETTE[0]}),
                     go.Scatter(x=trend["month"], y=trend["city_index"], name="Kansas City", connectgaps=False,
                                line={"dash": "dot", "color": PALETTE[1]})])
    fig.update_layout(title="Monthly trend against the city (each as % of its own average)", height=360,
                      xaxis_title="month", yaxis_title="index (own average = 100)", legend={"orientation": "h", "y": -0.25},
                      margin={"l": 40, "r": 10, "t": 50, "b": 10}, hovermode="x unified")
    fig.update_yaxes(rangemode="tozero")
    return fig


def neighbour_band(band: pd.DataFrame, area: str, k: int, title: str = "Monthly counts: this neighborhood and "
                   "next door") -> go.Figure:
    """The area's monthly counts (a line) over its k neighbours' median (dotted) and their lowest-to-highest range
    (a grey band), from profile.neighbour_band: readable where one line per neighbour was a tangle."""
    x = band["month"]
    fig = go.Figure()
    known = band["high"].notna()
    for i, (first, last) in enumerate(_spans(x, known)):  # one closed shape per run of months with data: a fill
        run = band[(x >= first) & (x <= last)]             # across a gap would draw false diagonals
        fig.add_trace(go.Scatter(x=list(run["month"]) + list(run["month"][::-1]),
                                 y=list(run["high"]) + list(run["low"][::-1]), fill="toself",
                                 fillcolor="rgba(127,140,141,0.3)", line={"width": 0}, hoverinfo="skip",
                                 name=f"range of the {k} neighbours (lowest to highest)", legendgroup="range",
                                 showlegend=i == 0))
    fig.add_traces([
        go.Scatter(x=x, y=band["median"], name=f"median of the {k} neighbours", connectgaps=False,
                   line={"color": PALETTE[1], "dash": "dot", "width": 3}, hovertemplate="%{y:,}<extra>median</extra>"),
        go.Scatter(x=x, y=band["area"], name=area, mode="lines", connectgaps=False,
                   line={"color": PALETTE[0], "width": 2}, hovertemplate="%{y:,}<extra>" + area + "</extra>"),
    ])
    fig.update_layout(title=title, xaxis_title="month", hovermode="x unified", height=400,
                      legend={"orientation": "h", "y": -0.2}, margin={"l": 40, "r": 10, "t": 50, "b": 10})
    _count_axis(fig, "incidents per month")
    return fig


def hour_weekday(hours: pd.DataFrame, weekdays: list[str]) -> go.Figure:
    """Incidents by hour of day and weekday (of the time the incident happened, where the source gives it)."""
    grid = hours.pivot_table(index="weekday", columns="hour", values="n", fill_value=0).reindex(
        index=range(7), columns=range(24), fill_value=0)
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=list(range(24)), y=weekdays, colorscale="Reds",
                               colorbar={"title": {"text": "incidents"}, "tickformat": ",d",
                                         "dtick": integer_dtick(float(grid.to_numpy().max()))},
                               hovertemplate="%{y} %{x}:00: %{z:,} incidents<extra></extra>"))
    return fig.update_layout(height=300, xaxis_title="hour of day", margin={"l": 40, "r": 10, "t": 20, "b": 10})


STATUS_CODE = {"no data": 0, "sample": 1, "partial": 2, "complete": 3}


def coverage_heatmap(coverage: pd.DataFrame, labels: dict[str, str] | None = None) -> go.Figure:
    """Source x month grid: complete, partial, sample, or no data (yearly sources spread over their months); rows
    named by `labels` (source id -> what readers call it), never by id."""
    cov = coverage.copy()
    yearly = cov[cov.grain == "year"]
    spread = [
        {**row, "period": f"{row['period']}-{m:02d}"} for row in yearly.to_dict("records") for m in range(1, 13)
    ]
    cov = pd.concat([cov[cov.grain == "month"], pd.DataFrame(spread)], ignore_index=True)
    months = pd.period_range(min(cov["period"]), max(cov["period"]), freq="M").astype(str)
    grid = cov.pivot_table(index="source_id", columns="period", values="status", aggfunc="first").reindex(
        columns=months)
    z = grid.apply(lambda col: col.map(STATUS_CODE)).fillna(0).to_numpy()
    colours = [[0, "#eeeeee"], [0.25, "#eeeeee"], [0.25, "#f5b7b1"], [0.5, "#f5b7b1"], [0.5, "#f9e79f"],
               [0.75, "#f9e79f"], [0.75, "#58d68d"], [1, "#58d68d"]]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(months), y=[(labels or {}).get(s, s) for s in grid.index], colorscale=colours, zmin=0, zmax=3, xgap=0, ygap=2,
        text=grid.fillna("no data").to_numpy(), hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        colorbar={"tickvals": [0.4, 1.1, 1.9, 2.6], "ticktext": ["no data", "sample", "partial", "complete"]},
    ))
    fig.update_layout(height=60 + 35 * len(grid), margin={"l": 10, "r": 10, "t": 20, "b": 10})
    return fig


def region_colour(name: str) -> str:
    """A region's colour as on the evaluation map (maps.REGION_COLOURS), as hex."""
    from analytics.maps import REGION_COLOURS

    r, g, b, _ = REGION_COLOURS.get(name, [120, 120, 120, 0])
    return f"#{r:02x}{g:02x}{b:02x}"


def region_lines(result: dict) -> go.Figure:
    """Monthly counts in footprint, buffer and comparison areas, with the event's month marked; colours as on the
    map, the measure by its label."""
    monthly = pd.DataFrame(result["monthly"])
    monthly["month"] = pd.to_datetime(monthly["month"])
    fig = go.Figure()
    for col in ["footprint", "buffer", "comparison", "comparison buffer"]:
        fig.add_trace(go.Scatter(x=monthly["month"], y=monthly[col], name=col, mode="lines+markers",
                                 connectgaps=False,
                                 line={"color": region_colour(col), "dash": "dot" if "buffer" in col else None}))
    event = pd.Timestamp(result["date"])
    fig.add_vline(x=event.timestamp() * 1000, line_dash="dash", line_color="#555",
                  annotation_text=f"canvass {result['date']}"
                                  f"{'' if result.get('date_confirmed', True) else ' (date not confirmed)'}",
                  annotation_position="top")
    measure = result.get("measure_label", result["measure"])
    fig.update_layout(title="Monthly counts around the canvass", height=380, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.2}, margin={"l": 40, "r": 10, "t": 50, "b": 10})
    _count_axis(fig, f"{measure} per month")
    return fig


def cumulative_band(frame: pd.DataFrame) -> go.Figure:
    """Cumulative footprint-minus-comparison difference after the event, with its 90% band."""
    x = pd.to_datetime(frame["month"])
    fig = go.Figure([
        go.Scatter(x=x, y=frame["high"], line={"width": 0}, showlegend=False, hoverinfo="skip"),
        go.Scatter(x=x, y=frame["low"], fill="tonexty", fillcolor="rgba(192,57,43,0.15)", line={"width": 0},
                   name="90% band"),
        go.Scatter(x=x, y=frame["cumulative"], name="cumulative difference", mode="lines+markers",
                   line={"color": PALETTE[0]}),
    ])
    fig.add_hline(y=0, line_color="#555")
    fig.update_layout(title="Cumulative difference after the canvass (footprint minus comparison, beyond the before "
                      "average)", yaxis_title="cumulative count", height=340, margin={"l": 40, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def placebo_histogram(placebo: dict, real_z: float | None, critical: float) -> go.Figure:
    """Where the real result falls among placebo results (fake dates, other neighborhoods)."""
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=placebo["fake_dates"], name="fake dates", opacity=0.6, marker_color=PALETTE[1]))
    fig.add_trace(go.Histogram(x=placebo["other_areas"], name="other neighborhoods", opacity=0.6,
                               marker_color=PALETTE[5]))
    if real_z is not None:
        fig.add_vline(x=real_z, line_color=PALETTE[0], line_width=3, annotation_text="this canvass")
    for c in (-critical, critical):
        fig.add_vline(x=c, line_dash="dot", line_color="#555")
    fig.update_layout(barmode="overlay", title="Placebo checks: z-scores of the same test where no canvass took place",
                      xaxis_title="z-score of the footprint-against-comparison test",
                      height=320, margin={"l": 40, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    return fig
