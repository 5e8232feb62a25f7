from etl.cli import main

raise SystemExit(main())
