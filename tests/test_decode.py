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


def test_utf8_with_a_few_broken_bytes_is_not_turned_into_mojibake() -> None:
    text = "<p>Le naïve café est très bon, et voilà une phrase assez longue.</p>" * 5
    decoded = decode_html(text.encode() + b"\xff\xfe broken", "utf-8")
    assert text in decoded.text
    assert decoded.encoding == "utf-8" and decoded.lossy


def test_undeclared_legacy_page_is_detected() -> None:
    text = "<p>" + "Les élèves étudient à l'école, où ils apprennent le français et l'économie. " * 5 + "</p>"
    decoded = decode_html(text.encode("cp1252"))
    # cp1252 and cp1250 are both fair guesses for these bytes; they agree on é and ç.
    assert "étudient" in decoded.text and "l'école" in decoded.text and "français" in decoded.text
    assert decoded.encoding != "utf-8" and not decoded.lossy


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "empty_page"), (b"   \n", "empty_page"), (bytes(range(256)) * 40, "binary_content")],
)
def test_unreadable_payloads_are_rejected(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_html(payload)
    assert info.value.reason == reason
