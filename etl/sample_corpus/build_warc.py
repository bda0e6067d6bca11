"""Pack the hand-written sample pages into a small, deterministic gzip WARC file.

The ETL (HTML -> header segments -> dedup -> filters) needs a realistic crawl
to run end to end in tests and demos without network access or third-party
text. ``pages/`` holds original pages written for this project, including
deliberately awkward ones (near and exact duplicates, boilerplate, non-English,
legacy charset, broken HTML); ``MANIFEST`` names which page plays which role.

Pages are stored as UTF-8 on disk and re-encoded here in the charset their
``<meta charset>`` declares, so a legacy page reaches the ETL as a crawler would
see it. Pages listed under ``"broken"`` are copied byte for byte. Dates, record
ids and gzip headers are fixed, so building twice gives identical bytes.

Usage: ``python build_warc.py [--out PATH]`` (default: ``sample.warc.gz`` here).
"""

from __future__ import annotations

import argparse
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from io import BytesIO
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
PAGES_DIR = HERE / "pages"
DEFAULT_OUT = HERE / "sample.warc.gz"

BASE_URL = "https://sample.humpback.example/"
START_DATE = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE_URL)
USER_AGENT = "humpback-sample-builder/1.0 (+https://sample.humpback.example/bot)"

# Which page plays which special role. Every other page is a regular, clean
# English article. Tests should refer to pages through these names.
MANIFEST: dict[str, tuple[str, ...]] = {
    "near_duplicate_original": (
        "emergency-fund.html",
        "git-branching.html",
        "tomato-soup.html",
    ),
    # Same order as the originals: syndicated copies with a few words changed
    # and a different title, nav and footer (segment 5-gram Jaccard >= 0.83).
    "near_duplicate_mirror": (
        "emergency-fund-mirror.html",
        "git-branching-mirror.html",
        "tomato-soup-mirror.html",
    ),
    "exact_duplicate_original": ("python-list-comprehensions.html",),
    # Byte-identical copy of the original, served from a different host.
    "exact_duplicate_copy": ("python-list-comprehensions-duplicate.html",),
    "boilerplate_heavy": (
        "boilerplate-forum-thread.html",
        "boilerplate-news-portal.html",
        "boilerplate-recipe-blog.html",
    ),
    "non_english": ("french-crepes.html", "german-fahrradkette.html"),
    "legacy_charset": ("legacy-charset-alpine-cheese.html",),
    "broken": ("broken-truncated-page.html",),
    "no_headers": ("no-headers-houseplants-vacation.html",),
    "text_before_first_header": ("text-before-header-job-interviews.html",),
    "deep_header_hierarchy": ("nested-headers-home-repair.html",),
    "tiny": ("tiny-page.html",),
}

NEAR_DUPLICATE_PAIRS: tuple[tuple[str, str], ...] = tuple(
    zip(MANIFEST["near_duplicate_original"], MANIFEST["near_duplicate_mirror"], strict=True)
)
EXACT_DUPLICATE_PAIRS: tuple[tuple[str, str], ...] = tuple(
    zip(MANIFEST["exact_duplicate_original"], MANIFEST["exact_duplicate_copy"], strict=True)
)
PAGE_LANGUAGES: dict[str, str] = {
    "french-crepes.html": "fr",
    "german-fahrradkette.html": "de",
}

# Pages whose URL does not follow BASE_URL + <name without extension>.
URL_OVERRIDES: dict[str, str] = {
    "python-list-comprehensions-duplicate.html": (
        "https://copycat.humpback.example/articles/python-list-comprehensions"
    ),
}

# Pages that also get a WARC metadata record (refers to their response).
METADATA_PAGES: tuple[str, ...] = (
    "broken-truncated-page.html",
    "legacy-charset-alpine-cheese.html",
    "python-list-comprehensions-duplicate.html",
    "tomato-soup-mirror.html",
)

_META_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)


def page_roles(name: str) -> tuple[str, ...]:
    """Return the MANIFEST roles of a page (empty for a regular page)."""
    return tuple(role for role, names in MANIFEST.items() if name in names)


def page_url(name: str) -> str:
    """Return the stable fake URL under which a page is archived."""
    return URL_OVERRIDES.get(name, BASE_URL + Path(name).stem)


def declared_charset(html: bytes) -> str:
    """Return the charset from the first ``<meta charset>`` (default ``utf-8``)."""
    match = _META_CHARSET.search(html[:4096])
    return match.group(1).decode("ascii").lower() if match else "utf-8"


def page_body(path: Path) -> tuple[bytes, str]:
    """Return the response body bytes of a page and the charset to announce."""
    raw = path.read_bytes()
    charset = declared_charset(raw)
    if path.name in MANIFEST["broken"]:
        return raw, charset
    # Strict encoding: a character the declared charset cannot hold is a bug.
    return raw.decode("utf-8").encode(charset), charset


def record_id(url: str, record_type: str) -> str:
    """Return a deterministic WARC-Record-ID for (url, record type)."""
    return f"<urn:uuid:{uuid.uuid5(ID_NAMESPACE, f'{record_type} {url}')}>"


def warc_date(moment: datetime) -> str:
    """Format a UTC datetime as a WARC-Date (second precision)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def list_pages() -> list[Path]:
    """Return all sample pages sorted by file name; fail if MANIFEST names a missing one."""
    pages = sorted(PAGES_DIR.glob("*.html"), key=lambda p: p.name)
    names = {p.name for p in pages}
    missing = sorted({n for ns in MANIFEST.values() for n in ns} - names)
    missing += sorted(set(URL_OVERRIDES) - names) + sorted(set(METADATA_PAGES) - names)
    if missing:
        raise SystemExit(f"pages named in MANIFEST but missing from {PAGES_DIR}: {missing}")
    return pages


def _warc_fields(fields: dict[str, str]) -> bytes:
    return "".join(f"{key}: {value}\r\n" for key, value in fields.items()).encode("utf-8")


def write_warc(stream: BinaryIO, filename: str) -> Counter[str]:
    """Write the whole sample WARC to ``stream``; return record counts by type."""
    writer = WARCWriter(stream, gzip=True)
    counts: Counter[str] = Counter()
    pages = list_pages()

    info = _warc_fields(
        {
            "software": "etl/sample_corpus/build_warc.py (warcio)",
            "format": "WARC File Format 1.0",
            "description": "Original sample pages written for the Humpback ETL tests",
            "isPartOf": "humpback-sample-corpus",
            "pages": str(len(pages)),
        }
    )
    warcinfo = writer.create_warc_record(
        "",
        "warcinfo",
        payload=BytesIO(info),
        length=len(info),
        warc_headers_dict={
            "WARC-Record-ID": record_id(filename, "warcinfo"),
            "WARC-Date": warc_date(START_DATE),
            "WARC-Filename": filename,
        },
    )
    writer.write_record(warcinfo)
    counts["warcinfo"] += 1

    for index, path in enumerate(pages, start=1):
        url = page_url(path.name)
        parts = urlsplit(url)
        moment = START_DATE + timedelta(minutes=index)
        date = warc_date(moment)
        body, charset = page_body(path)
        response_id = record_id(url, "response")

        request_headers = StatusAndHeaders(
            f"GET {parts.path or '/'} HTTP/1.1",
            [
                ("Host", parts.netloc),
                ("User-Agent", USER_AGENT),
                ("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
                ("Accept-Encoding", "identity"),
            ],
            is_http_request=True,
        )
        request = writer.create_warc_record(
            url,
            "request",
            http_headers=request_headers,
            warc_headers_dict={
                "WARC-Record-ID": record_id(url, "request"),
                "WARC-Date": date,
                "WARC-Concurrent-To": response_id,
            },
        )

        response_headers = StatusAndHeaders(
            "200 OK",
            [
                ("Date", format_datetime(moment, usegmt=True)),
                ("Server", "nginx"),
                ("Content-Type", f"text/html; charset={charset}"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
            protocol="HTTP/1.1",
        )
        response = writer.create_warc_record(
            url,
            "response",
            payload=BytesIO(body),
            length=len(body),
            http_headers=response_headers,
            warc_headers_dict={"WARC-Record-ID": response_id, "WARC-Date": date},
        )
        writer.write_record(request)
        writer.write_record(response)
        counts["request"] += 1
        counts["response"] += 1

        if path.name in METADATA_PAGES:
            fields = {"sampleFile": path.name, "fetchTimeMs": str(100 + 7 * index)}
            fields["sampleRoles"] = ",".join(page_roles(path.name)) or "regular"
            meta = _warc_fields(fields)
            metadata = writer.create_warc_record(
                url,
                "metadata",
                payload=BytesIO(meta),
                length=len(meta),
                warc_headers_dict={
                    "WARC-Record-ID": record_id(url, "metadata"),
                    "WARC-Date": date,
                    "WARC-Refers-To": response_id,
                },
            )
            writer.write_record(metadata)
            counts["metadata"] += 1
    return counts


def build(out: Path = DEFAULT_OUT) -> Counter[str]:
    """Build the WARC at ``out`` and return record counts by type."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as stream:
        return write_warc(stream, out.name)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .warc.gz path")
    args = parser.parse_args(argv)
    counts = build(args.out)
    summary = ", ".join(f"{kind}={n}" for kind, n in sorted(counts.items()))
    print(f"wrote {args.out} ({summary})")


if __name__ == "__main__":
    main()
