"""The text of a page that is not its main content: navigation, banners, sharing bars, comments, footers.

Given a page and its main-content HTML (a ground truth such as readability's `expected.html`), the
short text blocks of the page that the main content does not contain are its furniture. Tests and
benchmarks use them as real boilerplate, the text a filter or a curator must learn to drop.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html

_BLOCKS = (
    "li",
    "a",
    "p",
    "div",
    "span",
    "td",
    "button",
    "label",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "small",
)
_SKIP = ("script", "style", "noscript", "template", "svg")
_SPACE = re.compile(r"\s+")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _leaf_texts(document: lxml_html.HtmlElement) -> list[str]:
    """The text of every block that holds text of its own but no other block: one line each, in order."""
    for bad in document.iter(*_SKIP):
        bad.drop_tree()
    lines = []
    for element in document.iter(*_BLOCKS):
        if any(child.tag in _BLOCKS for child in element.iterdescendants() if isinstance(child.tag, str)):
            continue
        text = _normal(element.text_content())
        if text:
            lines.append(text)
    return lines


def furniture_lines(page_html: str, main_html: str, max_words: int = 25) -> list[str]:
    """Lines of `page_html` (at most `max_words` words, with letters) that `main_html` does not contain,
    in page order, each once."""
    main = _normal(lxml_html.fromstring(main_html or "<div></div>").text_content()).lower()
    seen: set[str] = set()
    found = []
    for line in _leaf_texts(lxml_html.fromstring(page_html)):
        key = line.lower()
        words = len(line.split())
        if key in seen or key in main or words > max_words or not re.search(r"[^\W\d_]{2}", line):
            continue
        seen.add(key)
        found.append(line)
    return found
