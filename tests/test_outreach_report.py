"""The one-page report of an evaluation: what it carries, and that it prints on one sheet of Letter and of A4."""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from analytics import evaluation, registry, report
from analytics.wdd import Z90
from kcvt.settings import ROOT

INDEPENDENCE, PAL = "independence-ave-2023-11-29", "pal-center-2017-07-26"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "_artifacts" / "reports"
#: sheet sizes in PDF points (1/72 inch)
PAPERS = {"letter": (612, 792), "A4": (595, 842)}


def _caveat(con, source: str) -> str:
    return con.execute("SELECT caveat FROM sources WHERE source_id = ?", [source]).fetchall()[0][0]


def test_the_report_carries_the_design_s_own_caveats_the_placebos_and_a_map_legend(con):
    event = registry.get(INDEPENDENCE)
    result = evaluation.evaluate(con, event)
    page = report.html(result, event)
    assert html.escape(result["summary"]) in page  # the same paragraph the page leads with
    assert html.escape(_caveat(con, "kcpd_nbhd")) in page and html.escape(_caveat(con, "gva")) not in page
    plc = result["placebo"]  # the placebo summary, its share recomputed here from the placebos' z-scores
    beyond = np.mean(np.abs(plc["fake_dates"] + plc["other_areas"]) > Z90)
    assert f"Placebo checks: the same test at {len(plc['fake_dates'])} earlier dates" in page
    assert f"{100 * beyond:.0f}% were beyond the usual 90% threshold" in page
    assert all(f"<b>{region}</b>" in page for region in result["shapes"])  # the legend names every region drawn
    assert "<script" not in page  # nothing runs: it prints as it is
    points = report.html(evaluation.evaluate(con, registry.get(PAL)), registry.get(PAL))
    assert html.escape(_caveat(con, "gva")) in points and html.escape(_caveat(con, "kcpd_nbhd")) not in points
    tried = evaluation.evaluate(con, event.model_copy(update={"start_date": date(2024, 1, 10)}), with_placebos=False)
    assert "This date is not saved" in report.html(tried, event)
    assert "This date is not saved" not in page


def _pages(pdf: bytes) -> int:
    try:
        from pypdf import PdfReader
    except ImportError:  # count the page objects (Chromium writes them uncompressed)
        return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _sheet(pdf: bytes) -> tuple[int, int]:
    found = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert found, "no MediaBox in the PDF"
    return round(float(found[1])), round(float(found[2]))


def test_the_report_prints_on_one_page_of_letter_and_of_a4(con, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium before the tests")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    event = registry.get(INDEPENDENCE)
    result = evaluation.evaluate(con, event)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for paper, sheet in PAPERS.items():
        page, pdf = tmp_path / f"report_{paper}.html", tmp_path / f"report_{paper}.pdf"
        page.write_text(report.html(result, event, paper), encoding="utf-8")
        subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                        f"--user-data-dir={tmp_path / 'profile'}", f"--print-to-pdf={pdf}", page.as_uri()],
                       check=True, capture_output=True, timeout=180)
        shutil.copyfile(pdf, ARTIFACTS / pdf.name)
        data = pdf.read_bytes()
        assert _sheet(data) == sheet, paper  # the sheet the report asked for
        assert _pages(data) == 1, paper


def test_the_report_chart_has_a_line_legend_and_axis_units(con):
    """A printed page has no hover: each line of the monthly chart is named beside a sample of its colour and dash,
    and the axes say what they count (the measure a month) and in what (months)."""
    event = registry.get(INDEPENDENCE)
    result = evaluation.evaluate(con, event, with_placebos=False)
    page = report.html(result, event)
    chart = next(svg for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S) if "<polyline" in svg)
    for region in ("footprint", "buffer", "comparison", "comparison buffer"):
        assert f">{region}</text>" in chart, region
    assert f"{result['measure_label'].lower()} a month" in chart and "(month)" in chart


def test_a_change_under_one_percent_never_reads_minus_zero():
    """Review: the WDD table showed "-0%" for a difference of a fraction of a percent."""
    from analytics import report

    assert [report._pct_text(v) for v in (-0.3, 0.04, -22.4, 7.6, None)] == [
        "-0.3%", "+0.0%", "-22%", "+8%", "no count before"]
