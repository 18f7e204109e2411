"""Microsoft 365 sign-in to the console (OIDC code flow with PKCE, through MSAL) against the local identity provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.fixtures.oauth import IdentityProvider, TokenLedger, start_identity_provider
from tests.web_helpers import client, service

STAFF = "agent.m365@inet.example.fr"


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = start_identity_provider(TokenLedger())
    try:
        yield provider
    finally:
        provider.close()


def _console(tmp_path: Path, idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    monkeypatch.setenv("MAILFLOW_TEST_TENANT", idp.tenant_id)
    monkeypatch.setenv("MAILFLOW_TEST_CLIENT", idp.client_id)
    monkeypatch.setenv("MAILFLOW_TEST_SECRET", idp.client_secret)
    extra = (f'staff = ["{STAFF.upper()}"]\nmicrosoft_signin = true\n\n[mailbox.oauth2]\n'
             f'authority = "{idp.authority}"\ntenant_id_env = "MAILFLOW_TEST_TENANT"\n'
             f'client_id_env = "MAILFLOW_TEST_CLIENT"\nclient_secret_env = "MAILFLOW_TEST_SECRET"\n'
             f'ca_file = "{idp.ca_file}"\n')
    return client(service(tmp_path, extra=extra))


def _sign_in(http, idp: IdentityProvider, next_: str = "/") -> requests.Response:  # noqa: ANN001
    """The browser's round trip: console → identity provider (the user signs in) → console callback."""
    start = http.get("/auth/microsoft", params={"next": next_})
    assert start.status_code == 303
    authorize = start.headers["location"]
    assert authorize.startswith(idp.authority) and "code_challenge=" in authorize
    browser = requests.Session()
    browser.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
    at_idp = browser.get(authorize, verify=str(idp.ca_file), allow_redirects=False, timeout=10)
    assert at_idp.status_code == 302
    back = urlsplit(at_idp.headers["location"])
    return http.get(f"{back.path}?{back.query}")


def test_a_staff_address_signs_in_with_microsoft_365(tmp_path: Path, idp: IdentityProvider,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An address of `[web] staff` (any case) gets a session and lands on the page it asked for."""
    http = _console(tmp_path, idp, monkeypatch)
    idp.signed_in = STAFF
    done = _sign_in(http, idp, "/a-traiter")
    assert done.status_code == 303 and done.headers["location"] == "/a-traiter"
    page = http.get("/a-traiter")
    assert page.status_code == 200 and STAFF in page.text
    token_posts = [r.form for r in idp.token_requests]
    assert token_posts[-1]["grant_type"] == "authorization_code" and token_posts[-1]["code_verifier"]


def test_an_address_outside_the_staff_list_is_refused(tmp_path: Path, idp: IdentityProvider,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid Microsoft 365 account that is not in `[web] staff` gets no session."""
    http = _console(tmp_path, idp, monkeypatch)
    idp.signed_in = "quelquun@cnfpt.example.fr"
    done = _sign_in(http, idp)
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert "pas accès à la console" in http.get("/login").text
    assert http.get("/").headers["location"].startswith("/login")


def test_a_forged_callback_is_refused(tmp_path: Path, idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback with another state (a forged or replayed answer) gives no session."""
    http = _console(tmp_path, idp, monkeypatch)
    http.get("/auth/microsoft")
    done = http.get("/auth/callback", params={"code": "code-forged", "state": "not-the-state"})
    assert done.headers["location"] == "/login"
    assert http.get("/").headers["location"].startswith("/login")
