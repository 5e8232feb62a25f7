"""Figures for the Programs page: synthetic against real, donor weights, placebo ratios, event study, placebo
programs, footprint contributions, tracking since the start and detectability. Every axis names its unit."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.charts import PALETTE

#: legends sit above the plot, under the title: below it they ran into the x-axis title ("month")
_LAYOUT = {"margin": {"l": 60, "r": 10, "t": 90, "b": 10},
           "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}}
MEASURE = "KCPD crimes against persons per month"


def _start_line(fig: go.Figure, month: str, text: str) -> None:
    fig.add_vline(x=pd.Timestamp(month).timestamp() * 1000, line_dash="dash", line_color="#555",
                  annotation_text=text, annotation_position="top left")


def synth_lines(result: dict) -> go.Figure:
    """The footprint's monthly count against its synthetic comparison, with the conformal band after the start."""
    s = pd.DataFrame(result["series"])
    s["month"] = pd.to_datetime(s["month"])
    after = s[s["window"] == "after"]
    fig = go.Figure()
    if after["low"].notna().all() and len(after):
        fig.add_trace(go.Scatter(x=after["month"], y=after["high"], mode="lines", line={"width": 0}, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=after["month"], y=after["low"], mode="lines", fill="tonexty", fillcolor="rgba(44,62,80,0.15)",
                                 line={"width": 0}, name="synthetic, 90% conformal band"))
    fig.add_trace(go.Scatter(x=s["month"], y=s["synthetic"], name="synthetic comparison (weighted donors)",
                             mode="lines", line={"color": PALETTE[1], "dash": "dash", "width": 2}))
    fig.add_trace(go.Scatter(x=s["month"], y=s["actual"], name="footprint (real)", mode="lines+markers",
                             line={"color": PALETTE[0], "width": 2}))
    _start_line(fig, result["date"][:7] + "-01", f"start {result['date']}")
    fig.update_layout(title="The footprint against its synthetic comparison", xaxis_title="month",
                      yaxis_title=MEASURE, height=400, hovermode="x unified", **_LAYOUT)
    fig.update_yaxes(rangemode="tozero")
    return fig


def donor_weights(result: dict) -> go.Figure:
    """Which neighborhoods make up the synthetic comparison, and how much of it each is."""
    d = pd.DataFrame(result["donors"]).sort_values("weight")
    fig = go.Figure(go.Bar(x=100 * d["weight"], y=d["neighborhood"], orientation="h", marker_color=PALETTE[1],
                           name="weight"))
    fig.update_layout(title="Donor neighborhoods in the synthetic comparison", xaxis_title="weight (% of the synthetic)",
                      yaxis_title="neighborhood", height=max(260, 28 * len(d) + 90), showlegend=False,
                      margin=_LAYOUT["margin"])
    return fig


def placebo_ratios(result: dict) -> go.Figure:
    """The footprint's after/before fit-error ratio against each donor's, when each is treated as the footprint.
    Bars lie down, one row per donor: standing up, twenty rotated names ate the height and left a plot about 60 px
    tall whose long y title ran into the chart title (review r2a)."""
    r = pd.DataFrame(result["test"]["placebo_ratios"]).sort_values("ratio")
    fig = go.Figure(go.Bar(x=r["ratio"], y=r["neighborhood"], orientation="h", marker_color=PALETTE[5],
                           name="donor treated as the footprint"))
    fig.add_vline(x=result["test"]["ratio"], line_color=PALETTE[0], line_width=3,
                  annotation_text=f"this footprint ({result['test']['ratio']:.2f}×)", annotation_position="top")
    fig.update_layout(title="Placebo-in-space: fit error after the start ÷ before", xaxis_title="ratio (×)",
                      yaxis_title=None, height=max(300, 22 * len(r) + 130), showlegend=False,
                      margin={"l": 10, "r": 20, "t": 70, "b": 50})
    fig.update_yaxes(automargin=True)
    return fig


#: what 0 means on the event study, said on the chart itself (analytics.program.event_study)
EVENT_STUDY_ZERO = "0 = the footprints' average month in the 12 before their starts, against their donors"


def event_study(result: dict) -> go.Figure:
    """Percent difference from the footprints' average before-month, by month relative to each footprint's start,
    with 90% intervals, and the pooled change (the headline) as a dashed line: the after-months scatter around it."""
    e = pd.DataFrame(result["event_study"])
    fig = go.Figure(go.Scatter(x=e["rel"], y=e["pct"], mode="markers+lines", name="month's estimate (90% interval)",
                               line={"color": PALETTE[0]},
                               error_y={"type": "data", "symmetric": False, "array": e["high"] - e["pct"],
                                        "arrayminus": e["pct"] - e["low"]}))
    fig.add_hline(y=0, line_color="#555")
    after = e[e["rel"] >= 1]
    if len(after):
        pooled = result["pooled"]["pct"]
        fig.add_trace(go.Scatter(x=[after["rel"].min() - 0.4, after["rel"].max() + 0.4], y=[pooled, pooled],
                                 mode="lines", name=f"pooled change after the starts ({pooled:+.1f}%)",
                                 line={"color": PALETTE[3], "dash": "dash", "width": 3}))
    fig.add_vline(x=0, line_dash="dash", line_color="#555", annotation_text="start")
    fig.update_layout(title=f"Event study: footprints against their donors, month by month<br><sup>{EVENT_STUDY_ZERO}"
                            "</sup>",
                      xaxis_title="months relative to each footprint's start",
                      yaxis_title="% vs average month before", height=420, **_LAYOUT)
    fig.update_yaxes(ticksuffix="%")
    fig.update_xaxes(dtick=1)
    return fig


def placebo_programs(result: dict) -> go.Figure:
    """The program's pooled estimate against placebo programs' (same footprints' sizes at random places and dates)."""
    fig = go.Figure(go.Histogram(x=result["placebos"]["estimates_pct"], name="placebo programs", opacity=0.7,
                                 marker_color=PALETTE[5]))
    fig.add_vline(x=result["pooled"]["pct"], line_color=PALETTE[0], line_width=3, annotation_text="this program")
    fig.update_layout(title="The program against placebo programs", xaxis_title="pooled change (%)",
                      yaxis_title="placebo programs (count)", height=320, **_LAYOUT)
    return fig


def contributions(result: dict) -> go.Figure:
    """Each footprint's own change and its share of the footprints' after-window counts."""
    f = pd.DataFrame(result["footprints"])
    labels = f["name"] + " (" + f["share_pct"].map(lambda x: f"{x:.0f}%") + " of counts)"
    fig = go.Figure(go.Bar(x=f["own_pct"], y=labels, orientation="h", marker_color=PALETTE[3],
                           name="own change"))
    fig.add_vline(x=result["pooled"]["pct"], line_color=PALETTE[0], line_dash="dash", annotation_text="pooled")
    fig.update_layout(title="Each footprint's own change (its share of the footprints' counts)",
                      xaxis_title="change against its donors (%)", height=max(260, 40 * len(f) + 120),
                      showlegend=False, margin=_LAYOUT["margin"])
    fig.update_yaxes(automargin=True)  # the footprints' names, in full, beside their bars
    fig.update_xaxes(automargin=True, tickangle=0)
    return fig


def tracking(result: dict) -> go.Figure:
    """Cumulative incidents above or below the expected count since the start, with the calibrated band."""
    t = pd.DataFrame(result["tracking"])
    staggered = t["month"].isna().any()  # footprints with their own starts: months count after each start
    t["x"] = t["k"] if staggered else pd.to_datetime(t["month"])
    fig = go.Figure([
        go.Scatter(x=t["x"], y=t["high"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"),
        go.Scatter(x=t["x"], y=t["low"], mode="lines", fill="tonexty", fillcolor="rgba(192,57,43,0.15)", line={"width": 0},
                   name="band (calibrated; a change is claimed only when it leaves 0)"),
        go.Scatter(x=t["x"], y=t["difference"], mode="lines+markers", name="actual minus expected, cumulative",
                   line={"color": PALETTE[0], "width": 2}),
    ])
    fig.add_hline(y=0, line_color="#555")
    fig.update_layout(title="Since the start: incidents above (+) or below (-) what was expected",
                      xaxis_title="months after each footprint's start" if staggered else "month",
                      yaxis_title="incidents, cumulative (actual - expected)", height=380, **_LAYOUT)
    if staggered:
        fig.update_xaxes(dtick=1 if len(t) <= 12 else 3, tick0=1)
    else:  # whole months only: with a few points plotly's automatic ticks fall on odd days ("Jan 25, Feb 8")
        fig.update_xaxes(tickformat="%b %Y", dtick="M1" if len(t) <= 12 else "M3", ticklabelmode="instant")
    return fig


def detectability(result: dict) -> go.Figure:
    """For drops of 10%, 20% and 30%: the share of simulated futures in which the drop is detectable (beyond the
    calibrated threshold) by each month after the start."""
    fig = go.Figure()
    for i, d in enumerate(result["detectable"]):
        fig.add_trace(go.Scatter(x=list(range(1, len(d["power"]) + 1)), y=[100 * p for p in d["power"]],
                                 name=f"{d['drop_pct']}% fewer", mode="lines",
                                 line={"color": PALETTE[i], "dash": ["solid", "dash", "dot"][i % 3]}))
    fig.add_hline(y=80, line_dash="dot", line_color="#555", annotation_text="detectable (80% of futures)",
                  annotation_position="bottom right")
    fig.update_layout(title="When would a drop show?", xaxis_title="months after the start",
                      yaxis_title="share of simulated futures in which<br>the drop is detectable by this month (%)",
                      yaxis_range=[0, 100], height=380, showlegend=True,
                      **{**_LAYOUT, "legend": {**_LAYOUT["legend"], "title": {"text": "drop, if the work cut incidents:"}}})
    fig.update_yaxes(ticksuffix="%")
    fig.update_xaxes(tick0=0, dtick=6 if max((len(d["power"]) for d in result["detectable"]), default=0) > 12 else 1)
    return fig
