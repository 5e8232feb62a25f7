"""Start the app: `python -m app.serve [streamlit run options]`, what `make run`, the browser tests and the benchmark
use.

It is `streamlit run dashboard.py` with the first page's libraries imported before the server answers. Streamlit
runs a page's script only when a visitor arrives, so on a plain `streamlit run` the first visitor after a start
also waits for pandas, plotly and the app's own modules to import (about 1.5 s on the 2-core machine,
docs/benchmarks.md). The heavier statistics libraries are not imported here: a page that needs them imports them
itself, and the warm-up (app.warm) opens every page in the background after the first visit. `streamlit run
dashboard.py` still works, only colder.
"""

from __future__ import annotations

import importlib
import logging
import sys

from kcvt.settings import ROOT

#: what the first run of any page imports (dashboard.py, app.web and the home page's charts and sidebar)
PRELOAD = ("PIL.Image", "pandas", "plotly.graph_objects", "streamlit.elements.plotly_chart", "app.web", "app.sidebar",
           "analytics.charts")


def main(argv: list[str] | None = None) -> None:
    """Import PRELOAD, then hand over to `streamlit run dashboard.py` with `argv` (default: this command's own)."""
    # app.web's cached functions are declared before Streamlit's runtime exists; each declaration would log "No
    # runtime found, using MemoryCacheStorageManager", which is true only of that check: a cache's storage is chosen
    # when it is first called, in the server
    import streamlit.runtime.caching  # noqa: F401 (its loggers exist, with Streamlit's levels, before they change)

    quiet = [logging.getLogger(f"streamlit.runtime.caching.{api}") for api in ("cache_data_api", "cache_resource_api")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.ERROR)
    try:
        for name in PRELOAD:
            importlib.import_module(name)
    finally:
        for log, level in zip(quiet, levels, strict=True):
            log.setLevel(level)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "dashboard.py"), *(sys.argv[1:] if argv is None else argv)]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
