"""The request body and what each CodeResult means for the run."""

from __future__ import annotations

import pytest

from batch_sender.esms.protocol import (
    ACCOUNT_CODES,
    Answer,
    Credentials,
    Message,
    SendOptions,
    Verdict,
    send_body,
)

from .conftest import LONG_ID

CREDS = Credentials("the-api-key", "the-secret-key", "4321")
MESSAGE = Message(2, "c-0123", LONG_ID, "Chào bạn\r\nhẹn gặp lại", "https://x.vn/a.jpg")


def test_body_is_exactly_the_documented_shape_plus_request_id() -> None:
    assert send_body(CREDS, MESSAGE, SendOptions()) == {
        "ApiKey": "the-api-key",
        "SecretKey": "the-secret-key",
        "OAID": "4321",
        "Payload": {
            "recipient": {"user_id": LONG_ID},
            "message": {
                "text": "Chào bạn\r\nhẹn gặp lại",
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": "image", "url": "https://x.vn/a.jpg"}],
                    },
                },
            },
        },
        "RequestId": "c-0123",
    }


def test_optional_fields_only_when_set() -> None:
    body = send_body(
        CREDS,
        MESSAGE,
        SendOptions(
            callback_url="https://hook.vn/cb", sandbox=True, send_date="2026-12-01 09:00:00"
        ),
    )
    assert body["CallbackUrl"] == "https://hook.vn/cb"
    assert body["Sandbox"] == "1"
    assert body["SendDate"] == "2026-12-01 09:00:00"


def test_credentials_repr_hides_the_secrets() -> None:
    assert "the-api-key" not in repr(CREDS)
    assert "the-secret-key" not in repr(CREDS)


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("100", Verdict.ACCEPTED),
        ("124", Verdict.ACCEPTED),
        ("160", Verdict.RETRY),
        ("105", Verdict.RETRY),
        ("99", Verdict.REJECTED),
        ("110", Verdict.REJECTED),
        ("852", Verdict.REJECTED),
        ("4242", Verdict.REJECTED),
        *[(code, Verdict.ACCOUNT) for code in ACCOUNT_CODES],
    ],
)
def test_verdicts(code: str, verdict: Verdict) -> None:
    assert Answer(code).verdict is verdict


def test_code_result_is_kept_as_a_string_even_if_sent_as_a_number() -> None:
    answer = Answer.from_json({"CodeResult": 100, "SMSID": "abc"})
    assert answer.code == "100"
    assert answer.smsid == "abc"
