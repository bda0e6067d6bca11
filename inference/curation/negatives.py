"""Pairs that are bad on purpose, made from good ones: the negatives a curator is fitted and measured on.

Every kind is a failure a web segment really has, built from a good (instruction, output) pair:

- `mismatched`: the instruction with another pair's output (the segment answers something else);
- `boilerplate`: the instruction with a few lines of site furniture (navigation, cookie, sharing lines);
- `truncated`: the output cut after 10-40% of its words, mid-sentence (extraction that lost the rest);
- `chatter`: the output told as first-person forum chatter (the rubric's "personal experience");
- `echo`: an output that only repeats the request.

The texts come in two families that share no sentence: `calibration`, which fits the default scoring
mode from the user's own seed pairs, and `benchmark`, which measures it. A curator measured on the
benchmark family has never seen those constructions. Every choice (partner, cut, template, lines) is
a hash of the pair's id, so the same pairs give the same negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import polars as pl

KINDS = ("mismatched", "boilerplate", "truncated", "chatter", "echo")
FAMILIES = ("calibration", "benchmark")
MIN_TRUNCATE_WORDS = 24  # shorter outputs are not cut: a few words may well be the whole answer
_SENTENCE_END = r"[.!?][\"'”’)\]]*\s*$"

# {q}: the instruction.
_ECHO = {
    "calibration": (
        "{q}",
        "You asked: {q}",
        "The question is: {q} That is what you want to know.",
        "Question: {q}\nAnswer: {q}",
        "{q} This is a question about {q}",
    ),
    "benchmark": (
        "Re: {q}\n\n{q}",
        "Good question! {q} Let me repeat it so we are on the same page: {q}",
        "So, to restate the request: {q}",
        "{q}?? Same question here. {q}",
        'Your request was "{q}". In other words: {q}',
    ),
}

# {c}: the output's text; the frame makes it one person's story on a forum or blog.
_CHATTER = {
    "calibration": (
        "lol I had the exact same problem last month. Here is what I ended up doing, no idea if it's "
        "right:\n\n{c}\n\nAnyway, that worked for me. Let me know in the comments if it helps!",
        "Ok so I'm no expert but my brother-in-law told me this once and I've been doing it ever "
        "since. {c} Honestly I still get it wrong half the time haha.",
        "I remember reading about this years ago when I was in college. From memory: {c}\n\nDon't "
        "quote me on it though, I'm going off what I remember. Upvote if this helped!",
        "Ugh, I've been there. My own experience: {c} Took me ages to figure out. Anyone else have "
        "a better way??",
    ),
    "benchmark": (
        "Posted by dave_84 | 3 replies\n\nHey all, long time lurker, first post. What worked in my "
        "case: {c}\n\nYMMV of course. Thanks for reading my rambling lol",
        "Not sure why everyone overcomplicates this. Me and my wife sorted it out last weekend. "
        "{c}\n\nEdit: fixed a typo. Edit 2: wow thanks for all the replies!",
        "I'll be honest, I only know this because my old boss was obsessed with it. {c} Just my two "
        "cents, I'm sure someone here knows better.",
        "Funny you ask, I literally just went through this. {c}\n\nReply  |  Quote  |  Report\n"
        "12 people found this helpful",
    ),
}


def calibration_boilerplate() -> list[str]:
    """Our own lines of site furniture, for the calibration family (one per line of the package file)."""
    text = (files(__package__) / "boilerplate_lines.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _pick(key: pl.Expr, salt: str, n: int) -> pl.Expr:
    """A number in [0, n) from a hash of the key: the same pair always makes the same choice."""
    return (pl.concat_str([key, pl.lit(f"|{salt}")]).hash(seed=7) % n).cast(pl.Int64)


def _fill(templates: Sequence[str], index: pl.Expr, placeholder: str, value: pl.Expr) -> pl.Expr:
    return (
        pl.lit(list(templates), dtype=pl.List(pl.String))
        .list.get(index)
        .str.replace_all(placeholder, value, literal=True)
    )


def make_negatives(
    pairs: pl.DataFrame,
    *,
    family: str,
    kinds: Sequence[str] = KINDS,
    boilerplate: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Negatives of each kind from `pairs` (pair_id, instruction, output): one per pair and kind, except
    `truncated` (outputs of at least 24 words) and `mismatched` (needs two pairs).

    Returns pair_id (the source pair), kind, instruction, output. `boilerplate`: the lines to draw from
    (default: our calibration set of site-furniture lines).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown negative kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    key, instruction, output = pl.col("pair_id"), pl.col("instruction"), pl.col("output")
    base = pairs.select("pair_id", "instruction", "output")
    made: list[pl.DataFrame] = []
    if "mismatched" in kinds and base.height >= 2:
        # a derangement: in an order fixed by hashes, each pair takes the next pair's output
        shuffled = base.sort(_pick(key, "mismatch", 1 << 62), "pair_id")
        made.append(
            shuffled.with_columns(
                output=output.shift(-1).fill_null(output.first()), kind=pl.lit("mismatched")
            )
        )
    if "boilerplate" in kinds:
        lines = list(boilerplate) if boilerplate is not None else calibration_boilerplate()
        if len(lines) < 8:
            raise ValueError("need at least 8 boilerplate lines")
        doubled = pl.lit(lines + lines, dtype=pl.List(pl.String))  # a run may wrap around the end
        made.append(
            base.with_columns(
                output=doubled.list.slice(
                    _pick(key, "lines", len(lines)), 3 + _pick(key, "count", 6)
                ).list.join("\n"),
                kind=pl.lit("boilerplate"),
            )
        )
    if "truncated" in kinds:
        words = output.str.extract_all(r"\S+\s*")  # each word with the space after it
        n_words = words.list.len()
        keep = (n_words * (0.10 + 0.30 * _pick(key, "cut", 1000) / 1000)).round().cast(pl.Int64).clip(4)
        # a cut that lands after a sentence's last word leaves a shorter but complete answer, not a
        # truncated one: cut one word earlier, so the text stops mid-sentence
        ends_sentence = words.list.get(keep - 1, null_on_oob=True).str.contains(_SENTENCE_END)
        keep = pl.when(ends_sentence).then(keep - 1).otherwise(keep)
        made.append(
            base.filter(n_words >= MIN_TRUNCATE_WORDS).with_columns(
                output=words.list.head(keep).list.join("").str.strip_chars(), kind=pl.lit("truncated")
            )
        )
    if "chatter" in kinds:
        templates = _CHATTER[family]
        made.append(
            base.with_columns(
                output=_fill(
                    templates, _pick(key, "chatter", len(templates)), "{c}", output.str.strip_chars()
                ),
                kind=pl.lit("chatter"),
            )
        )
    if "echo" in kinds:
        templates = _ECHO[family]
        question = instruction.str.strip_chars()
        made.append(
            base.with_columns(
                output=_fill(templates, _pick(key, "echo", len(templates)), "{q}", question),
                kind=pl.lit("echo"),
            )
        )
    columns = ["pair_id", "kind", "instruction", "output"]
    if not made:
        return pl.DataFrame(schema={c: pl.String for c in columns})
    return pl.concat([frame.select(columns) for frame in made]).sort("kind", "pair_id")
