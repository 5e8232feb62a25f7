"""What both sides share: settings and paths, the data model's version, opening the database, the writer lock, and
the summary of what the database holds. `etl` (the writer) and `analytics` (the reader) import this package and
never each other; the app (`app/`, `views/` (the pages), `dashboard.py`) sits on top of both."""
