"""Bytes to text: the declared charset (HTTP header, then meta tag), then UTF-8, then detection."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_SNIFF_BYTES = 4096


class DecodeError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str  # codec actually used
    declared: str | None  # charset the page declared, if any
    lossy: bool  # undecodable bytes were replaced with U+FFFD


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def meta_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:_SNIFF_BYTES])
    return match.group(1).decode("ascii", "replace") if match else None


_CONTROL = bytes([*range(0, 9), 11, *range(14, 27), *range(28, 32)])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL)


def looks_binary(payload: bytes) -> bool:
    """More than 5% control bytes in the first 8 KiB (images, archives, PDFs); UTF-16 has a BOM."""
    head = payload[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return len(head.translate(None, _NOT_CONTROL)) > len(head) // 20


def decode_html(payload: bytes, http_charset: str | None = None) -> Decoded:
    if not payload.strip():
        raise DecodeError("empty_page", "the payload is empty or whitespace")
    if looks_binary(payload):
        raise DecodeError("binary_content", "control bytes in the first 8 KiB: not an HTML page")
    meta = meta_charset(payload)
    declared = http_charset or meta
    candidates = [c for c in (_codec(http_charset), _codec(meta), "utf-8") if c]
    for codec in dict.fromkeys(candidates):
        try:
            return Decoded(payload.decode(codec), codec, declared, lossy=False)
        except UnicodeDecodeError:
            continue
    # Mostly UTF-8 with a few broken bytes: replacing those beats guessing a legacy codec, which turns
    # every accented letter into mojibake. "Mostly": declared UTF-8 or holding valid multi-byte
    # sequences, with under 1% of the text undecodable.
    utf8 = payload.decode("utf-8", errors="replace")
    broken = utf8.count("\ufffd")
    multibyte = any(ord(c) > 127 and c != "\ufffd" for c in utf8)
    if broken <= len(utf8) // 100 and (multibyte or _codec(declared) == "utf-8"):
        return Decoded(utf8, "utf-8", declared, lossy=True)
    best = from_bytes(payload[:65536]).best()
    codec = _codec(best.encoding) if best is not None else None
    codec = codec or _codec(declared) or "utf-8"
    text = payload.decode(codec, errors="replace")
    return Decoded(text, codec, declared, lossy="\ufffd" in text)
