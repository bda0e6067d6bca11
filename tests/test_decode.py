from __future__ import annotations

import pytest

from etl.decode import DecodeError, decode_html


def test_http_charset_wins() -> None:
    text = "<p>Ça coûte 5 €</p>"
    decoded = decode_html(text.encode("cp1252"), "windows-1252")
    assert decoded.text == text and decoded.encoding == "cp1252" and not decoded.lossy


def test_meta_charset_when_no_header() -> None:
    html = '<html><head><meta charset="euc-jp"></head><body>日本語のテキスト</body></html>'
    decoded = decode_html(html.encode("euc-jp"))
    assert "日本語のテキスト" in decoded.text and decoded.declared == "euc-jp"


def test_wrong_declaration_falls_back_without_losing_the_page() -> None:
    payload = "<p>naïve café</p>".encode() + b"\xff\xfe broken"
    decoded = decode_html(payload, "utf-8")
    assert "caf" in decoded.text
    assert decoded.encoding  # some codec decoded it, with replacement if it had to


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "empty_page"), (b"   \n", "empty_page"), (bytes(range(256)) * 40, "binary_content")],
)
def test_unreadable_payloads_are_rejected(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_html(payload)
    assert info.value.reason == reason
