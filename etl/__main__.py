"""`python -m etl`: the loader's command line (etl.cli)."""
from etl.cli import main

raise SystemExit(main())
