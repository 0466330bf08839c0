"""The redaction choke point, layer by layer: errors, classifications, excerpts, log records."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote, quote_plus

import pytest

from pixlee import PixleeContentError, PixleeError, PixleeRetriesExhausted
from pixlee.api.redaction import (
    install_log_redaction,
    redact,
    redacting_logger,
    register_secret,
)
from pixlee.api.responses import Action, Resolution, snippet, tail_excerpt
from pixlee.api.write.signing import sign


def _secret() -> str:
    return f"k-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    "template",
    [
        "GET http://h/api/v2/albums?page=1&api_key={k}&unique_id=1",
        "POST http://h/api/v2/albums?API_KEY={k}",
        '{{"private_api_key": "{k}", "x": 1}}',
        "{{'secret_key': '{k}'}}",
        "form: secret_key={k};next",
    ],
)
def test_key_value_forms_are_masked_without_registration(template: str) -> None:
    key = _secret()
    text = template.format(k=key)
    assert key not in redact(text)
    assert "***" in redact(text)


def test_signature_header_values_are_masked() -> None:
    value = sign("secret", b"{}", "sha256")
    for text in (f"Signature: {value}", f"{{'Signature': '{value}'}}", f'"signature":"{value}"'):
        assert value not in redact(text)
    # prose about signatures is left alone
    assert redact("the request signature (HTTP 403): check secret_key") == (
        "the request signature (HTTP 403): check secret_key"
    )


def test_registered_secrets_are_masked_verbatim_and_url_encoded() -> None:
    key = "p/q+r=s " + uuid.uuid4().hex
    register_secret(key)
    text = f"a {key} b {quote(key, safe='')} c {quote_plus(key)} d"
    assert quote(key, safe="") != key != quote_plus(key)
    assert redact(text) == "a *** b *** c *** d"


def test_every_pixlee_error_is_redacted_and_one_line_when_made() -> None:
    key = _secret()
    register_secret(key)
    for error in (
        PixleeError(f"boom at /x?api_key={key}\nsecond line"),
        PixleeRetriesExhausted(f"echo: {key}"),
        PixleeContentError(f"bad {key}", path="/albums", page=2, excerpt=f"..{key}.."),
    ):
        assert key not in str(error) and key not in repr(error)
        assert "\n" not in str(error)
    assert "***" in PixleeContentError("x", excerpt=f"..{key}..").excerpt


def test_a_classification_is_redacted_when_made() -> None:
    key = _secret()
    resolution = Resolution(
        Action.RETRY, "GET /x", f"GET /x?api_key={key}: HTTP 500", excerpt=f"api_key={key}"
    )
    assert key not in resolution.message and key not in resolution.excerpt


def test_an_excerpt_never_cuts_a_key_in_half() -> None:
    key = "Z" * 40 + uuid.uuid4().hex
    register_secret(key)
    body = "x" * 150 + key + "y" * 1000  # the key straddles the excerpt's end (160 chars)
    shown = snippet(body)
    assert "ZZZZ" not in shown and shown.startswith("x" * 150 + "***")
    tail = tail_excerpt(("a" * 1000 + key + "b" * 150).encode())
    assert "ZZZZ" not in tail


def test_log_records_of_child_loggers_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """A filter on the `pixlee` logger would not apply to `pixlee.api.session` records."""
    key = _secret()
    logger = redacting_logger("pixlee.api.some_module")
    install_log_redaction()  # what every client does when it is made
    with caplog.at_level(logging.DEBUG):
        logger.info("GET %s", f"http://h/x?api_key={key}")
        logging.getLogger("urllib3.connectionpool").debug('"GET /x?api_key=%s HTTP/1.1" 200', key)
    assert key not in caplog.text
    assert caplog.text.count("api_key=***") == 2
