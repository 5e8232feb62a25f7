"""Everything Streamlit: cached wrappers over `analytics` (web), forms, editing access and the shared sidebar.
Pages import only this package and `analytics`; `analytics` never imports Streamlit."""
