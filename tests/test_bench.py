"""The benchmark harness itself works (on a tiny SYNTHETIC input); the benchmarks run on demand only."""

from __future__ import annotations

import pandas as pd
import pytest

from bench import run
from bench.generate import generate


def test_generator_writes_labelled_synthetic_rows_the_adapter_reads(tmp_path):
    from etl.adapters import kcpd
    from etl.extract import read_csv_text

    path = generate(500, tmp_path / "SYNTHETIC-test.csv", seed=3)
    frame = pd.read_csv(path, dtype=str)
    assert len(frame) == 500 and frame.Report_No.str.startswith("SYNTH-").all()
    parsed = kcpd.parse(read_csv_text(path), path.name)
    assert len(parsed.incidents) == 500 and parsed.rejects == []
    assert parsed.incidents.lat.between(38.7, 39.5).all()


def test_harness_measures_every_figure_on_a_tiny_input(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "WORK", tmp_path)
    results = run.run_all({"etl": 3_000, "history": 2_000, "spatial": 3_000, "payload": [1_000, 3_000]},
                          with_app=False)
    assert results["etl"]["etl_s"] > 0 and results["etl"]["duckdb_scan_s"] > 0
    assert results["etl"]["baseline_s"] > 0 and results["etl"]["etl_peak_mb"] > 0  # both loads ran, in processes
    assert results["history"]["rows"] == 2_000 and 0 < results["history"]["incidents"] < 2_000  # reports repeat
    assert 0 < results["etl"]["bare_io_s"] < results["etl"]["etl_s"]  # the load computes on top of its bare I/O
    assert {q["query"] for q in results["queries"]} == set(run.PAGE_QUERIES)
    assert [p["incidents"] for p in results["payload"]] == [1_000, 3_000]
    table = run.report(results)
    assert "Map payload at 3,000 incidents" in table and "| home: total |" in table and "nothing computed" in table
    assert "pandas + geopandas" in table and "Full history: 2,000 person-rows" in table and "Load average" in table


def test_baseline_counts_incidents_by_neighborhood_and_month(tmp_path):
    from bench.baseline import neighborhood_month_counts

    path = generate(300, tmp_path / "SYNTHETIC-base.csv", seed=5, repeat_share=0.5)
    counts = neighborhood_month_counts(str(path))
    reports = pd.read_csv(path).Report_No.nunique()
    assert list(counts.columns) == ["nbhname", "month", "n"] and 0 < counts.n.sum() <= reports < 300


def test_the_statement_profile_sums_to_the_load_on_a_tiny_input(tmp_path):
    """`python -m bench.statements` (where a load's time goes) on a tiny SYNTHETIC file: the roll-ups and the
    incidents' insert are among its statements, and their time is part of the whole load's."""
    from bench import statements

    path = generate(400, tmp_path / "SYNTHETIC-statements.csv", seed=7)
    total, times = statements.profile(path)
    assert any(q.startswith("INSERT INTO incidents") for q in times)
    assert any("_rollup" in q for q in times)
    assert 0 < sum(times.values()) < total


def test_the_trace_summary_splits_the_main_thread_by_what_it_did():
    """bench.trace on a hand-made trace (microseconds): a 100 ms task on the renderer's main thread holding a 60 ms
    script call, itself holding a 25 ms wait for the GPU process; a 40 ms GPU task; and an event on another thread."""
    from bench.trace import GPU_WAIT, summarise

    meta = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": t, "args": {"name": n}}
            for t, n in ((1, "CrRendererMain"), (2, "CrGpuMain"))]
    x = [("RunTask", 1, 0, 100_000), ("FunctionCall", 1, 10_000, 60_000), (GPU_WAIT, 1, 20_000, 25_000),
         ("RunTask", 1, 200_000, 5_000), ("RunTask", 2, 20_000, 40_000), ("Paint", 3, 0, 7_000)]
    s = summarise(meta + [{"ph": "X", "name": n, "pid": 1, "tid": t, "ts": ts, "dur": d} for n, t, ts, d in x])
    assert s["busy"] == {"CrRendererMain": pytest.approx(0.105), "CrGpuMain": pytest.approx(0.04),
                         "?": pytest.approx(0.007)}
    assert s["main_self"] == {"RunTask": pytest.approx(0.045), "FunctionCall": pytest.approx(0.035),
                              GPU_WAIT: pytest.approx(0.025)}
    assert s["gpu_wait"] == pytest.approx(0.025)
