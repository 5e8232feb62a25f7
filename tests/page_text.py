"""Everything a page renders as text, for AppTest scans: headings, prose, alerts, widget labels and options, table
headers and cells (a missing cell counted as the 'None' the table would show), chart titles, axes and legends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

#: chart spec keys whose strings are drawn (titles, axis titles, legend names, annotations, tick labels)
DRAWN = {"text", "name", "ticktext"}


def _chart_strings(spec) -> Iterator[str]:
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k in DRAWN and isinstance(v, str):
                yield v
            elif k in DRAWN and isinstance(v, list):
                yield from (str(x) for x in v)
            elif k != "template":  # the theme's defaults, not the page's text
                yield from _chart_strings(v)
    elif isinstance(spec, list):
        for v in spec:
            yield from _chart_strings(v)


def _table_strings(frame: pd.DataFrame) -> Iterator[str]:
    yield from (str(c) for c in frame.columns)
    for value in frame.to_numpy().ravel():
        yield "None" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _node_strings(node) -> Iterator[str]:
    kind = getattr(node, "type", "")
    for attr in ("label", "help", "placeholder"):
        value = getattr(node, attr, None) if kind != "deck_gl_json_chart" else None
        if isinstance(value, str) and value:
            yield value
    if kind == "dataframe":
        yield from _table_strings(node.value)
    elif kind == "plotly_chart":
        yield from _chart_strings(json.loads(node.proto.spec))
    elif kind in ("selectbox", "multiselect", "radio"):
        yield from node.options
    elif kind not in ("deck_gl_json_chart", "number_input", "date_input", "text_input", "checkbox", "button",
                      "download_button", "text_area", "file_uploader"):
        try:
            value = node.value
        except Exception:  # noqa: BLE001 - elements AppTest cannot read have no text for us
            return
        if isinstance(value, str):
            yield value


def rendered_text(at: AppTest) -> list[str]:
    """Every piece of text the last run of `at` rendered, in page order."""
    out: list[str] = []

    def walk(node) -> None:
        if isinstance(node, Block):
            label = getattr(node, "label", None)
            if isinstance(label, str) and label:
                out.append(label)
            for child in node.children.values():
                walk(child)
        else:
            out.extend(_node_strings(node))

    walk(at._tree)
    return out
