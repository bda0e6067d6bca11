"""Cut a document's blocks into segments: a header and the text up to the next header.

Text before the first header is a segment with an empty header, and a page with no header is one
segment, so every extracted block lands in exactly one segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl.extract import Block
from etl.records import content_id

HEADER_PATH_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class Segment:
    segment_id: str
    header: str
    header_level: int
    header_path: str
    position: int
    text: str


def segment_blocks(doc_id: str, blocks: list[Block]) -> list[Segment]:
    segments: list[Segment] = []
    stack: list[tuple[int, str]] = []  # enclosing headers, outermost first
    header, level, body = "", 0, []

    def flush() -> None:
        text = "\n".join(body)
        if not header and not text:
            return
        path = HEADER_PATH_SEPARATOR.join(h for _, h in stack)
        position = len(segments)
        sid = content_id(doc_id, str(position), header, text, size=12)
        segments.append(Segment(sid, header, level, path, position, text))

    for block in blocks:
        if block.level == 0:
            body.append(block.text)
            continue
        flush()
        while stack and stack[-1][0] >= block.level:
            stack.pop()
        stack.append((block.level, block.text))
        header, level, body = block.text, block.level, []
    flush()
    return segments
