"""Who may change the canvass registry and the watch areas. Reading is always open.

Editing is off unless the deployment turns it on in Streamlit's secrets
(.streamlit/secrets.toml, never committed):

    [editing]
    password = "a long shared secret"      # a shared password, or:
    allowed_emails = ["lead@example.org"]  # people signed in through st.login (an identity provider in [auth])
"""

from __future__ import annotations

import hmac

import streamlit as st


def _settings() -> dict:
    try:
        return dict(st.secrets.get("editing", {}))
    except (FileNotFoundError, KeyError, AttributeError):
        return {}


def editing_configured() -> bool:
    """Whether the deployment turned editing on at all (a password or allowed e-mails in the secrets). Off by
    default, so a public deployment never lets visitors change the registry or the watch areas."""
    s = _settings()
    return bool(s.get("password") or s.get("allowed_emails"))


def can_edit() -> bool:
    """True when this session has unlocked editing (password) or is signed in as an allowed person."""
    s = _settings()
    if st.session_state.get("editing_unlocked"):
        return True
    allowed = {e.lower() for e in s.get("allowed_emails", [])}
    try:
        user = st.user
        if allowed and user.is_logged_in and str(user.get("email", "")).lower() in allowed:
            return True
    except (AttributeError, KeyError):
        pass
    return False


def unlock_form(key: str) -> bool:
    """Render the way in (password box or sign-in button); returns whether editing is on."""
    if can_edit():
        return True
    s = _settings()
    if not editing_configured():
        st.info("Editing is off in this deployment: reading stays open. An administrator turns it on with a password "
                "or sign-in in Streamlit's secrets (see the README).")
        return False
    if s.get("password"):
        given = st.text_input("Password to edit", type="password", key=f"{key}_password")
        if given:
            if hmac.compare_digest(given.encode(), str(s["password"]).encode()):
                st.session_state["editing_unlocked"] = True
                st.rerun()
            st.error("Wrong password.")
    if s.get("allowed_emails"):
        st.button("Sign in to edit", key=f"{key}_login", on_click=st.login)
    return False
