from __future__ import annotations

from etl.extract import Block, extract
from etl.segment import segment_blocks
from etl.settings import ExtractSettings


def test_segments_follow_headers_and_keep_their_path() -> None:
    blocks = [
        Block(0, "Intro before any header."),
        Block(1, "Recipes"),
        Block(2, "Soups"),
        Block(3, "Tomato soup"),
        Block(0, "Roast the tomatoes."),
        Block(0, "Blend them."),
        Block(2, "Breads"),
        Block(0, "Knead the dough."),
    ]
    segments = segment_blocks("doc", blocks)
    assert [(s.header, s.header_level, s.position) for s in segments] == [
        ("", 0, 0),
        ("Recipes", 1, 1),
        ("Soups", 2, 2),
        ("Tomato soup", 3, 3),
        ("Breads", 2, 4),
    ]
    assert segments[3].header_path == "Recipes > Soups > Tomato soup"
    assert segments[3].text == "Roast the tomatoes.\nBlend them."
    assert segments[4].header_path == "Recipes > Breads"
    assert len({s.segment_id for s in segments}) == len(segments)


def test_no_extracted_text_is_lost_between_segments() -> None:
    blocks = [Block(0, "a"), Block(2, "H"), Block(0, "b"), Block(0, "c"), Block(3, "I"), Block(2, "J")]
    segments = segment_blocks("doc", blocks)
    rebuilt = [
        part for s in segments for part in ([s.header] if s.header else []) + s.text.split("\n") if part
    ]
    assert rebuilt == [b.text for b in blocks]


def test_page_without_headers_is_one_segment() -> None:
    html = (
        "<html><body><article>"
        + "<p>Plain paragraph number %d with enough words to keep.</p>" * 5
        + "</article></body></html>"
    )
    extracted = extract(html % tuple(range(5)), None, ExtractSettings())
    segments = segment_blocks("doc", extracted.blocks)
    assert len(segments) == 1 and segments[0].header == "" and segments[0].text.count("\n") == 4


def test_ids_are_content_addressed() -> None:
    a = segment_blocks("doc", [Block(2, "H"), Block(0, "text")])
    b = segment_blocks("doc", [Block(2, "H"), Block(0, "text")])
    c = segment_blocks("doc", [Block(2, "H"), Block(0, "other text")])
    assert a[0].segment_id == b[0].segment_id != c[0].segment_id


def test_a_fragment_is_extracted_as_a_body_and_its_sections_become_segments() -> None:
    """HTML as JSONL and Parquet dumps carry it: a <div> without <html> or <body>."""
    first = (
        "Water the plant a day before you repot it, so that the root ball holds together and slides out "
        "of the old pot easily. Choose a new pot only a little wider than the old one, with a hole."
    )
    second = (
        "Turn the old pot on its side, support the base of the stems with one hand and ease the plant "
        "out. Loosen the outer roots with your fingers and cut away any that are brown or mushy."
    )
    third = (
        "Set the plant at the same depth as before, fill in around it with fresh potting mix and water "
        "it until water runs out of the drainage hole. Keep it out of direct sun for a week."
    )
    fragment = (
        f"<div class='page'><h2>Before you start</h2><p>{first}</p>"
        f"<h2>Moving the plant</h2><p>{second}</p><p>{third}</p></div>"
    )
    extracted = extract(fragment, None, ExtractSettings())
    segments = segment_blocks("doc", extracted.blocks)
    assert [(s.header, s.text) for s in segments] == [
        ("Before you start", first),
        ("Moving the plant", f"{second}\n{third}"),
    ]
