"""What the calibrated scoring mode reads about a pair: the model's likelihoods and the text's own shape.

From the model, in two passes that share the rating prompt's cached prefix:

1. The rating row itself (rubric, request, answer, `Score:`), as in `direct` mode. Besides the five
   score digits' probabilities, the same pass gives log p(answer | request) for the answer's first
   `likelihood_tokens` tokens and log p(closing line | request, whole answer), and of its first token,
   the line break: how likely the answer is to end where it ends (a text cut short is not).
2. The answer alone under an `Answer:` line, read only as far as those first tokens: log p(answer).

Their difference per token is the likelihood gain (pointwise mutual information) of the request and
answer; their ratio of losses is Superfiltering's IFD. The answer's first tokens carry most of it: on
the tune split of the curation benchmark, 16 tokens separated mismatched answers better than 256.

From the text (Polars expressions, no model): how much the answer only restates the request (the
overlap of their words, and the share of the request's words that the answer repeats), its share of
first-person words, its share of very short lines (menus, link lists), and both lengths.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from tqdm import tqdm

from inference.augment import cut_input
from inference.engines.base import Engine, Piece
from inference.gain import TOKENS, alone_pieces
from inference.prompts.rating import SCORES, RatingPrompt

LIKELIHOOD_TOKENS = TOKENS
CANDIDATES = tuple(f" {k}" for k in SCORES)  # what follows "Score:" in the rating prompt

MODEL_COLUMNS = {
    "probs": pl.List(pl.Float64),
    "answer_tokens": pl.Int32,
    "scored_tokens": pl.Int32,
    "logp_answer_given_instruction": pl.Float64,
    "logp_answer": pl.Float64,
    "logp_answer_given_instruction_per_token": pl.Float64,
    "logp_answer_per_token": pl.Float64,
    "ifd": pl.Float64,
    "logp_end": pl.Float64,
    "logp_line_end": pl.Float64,
    "prompt_tokens": pl.Int32,
    "uncached_tokens": pl.Int32,
}
_WORD = r"[\p{L}\p{N}']+"
_FIRST_PERSON = r"\b(?:I|I'm|I've|I'd|I'll|[Mm]e|[Mm]y|[Mm]ine|[Mm]yself)\b"
EDGE_WORDS = 30  # words at each end of an answer where `first_person` looks
_SHORT_LINE = r"(?m)^[^\S\n]*\S+(?:[^\S\n]+\S+){0,2}[^\S\n]*$"  # three words or fewer
_LINE = r"(?m)^[^\S\n]*\S"


def model_signals(
    engine: Engine,
    prompt: RatingPrompt,
    instructions: Sequence[str],
    answers: Sequence[str],
    likelihood_tokens: int = LIKELIHOOD_TOKENS,
) -> pl.DataFrame:
    """One row per pair with the columns of `MODEL_COLUMNS`. `likelihood_tokens` -1 scores whole answers."""
    rated, alone = [], []
    for instruction, answer in zip(instructions, answers, strict=True):
        head, text, closing, rest = prompt.parts(instruction, answer)
        rated.append(
            [Piece(head), Piece(text, scored=likelihood_tokens), Piece(closing, scored=-1), Piece(rest)]
        )
        alone.append(alone_pieces(prompt, answer, likelihood_tokens))
    given = engine.likelihood(prompt.prefix, rated, CANDIDATES)
    bare = engine.likelihood(prompt.prefix, alone)
    frame = pl.DataFrame(
        {
            "probs": [g.probs for g in given],
            "answer_tokens": [g.pieces[1].tokens for g in given],
            "scored_tokens": [g.pieces[1].scored for g in given],
            "logp_answer_given_instruction": [g.pieces[1].logprob for g in given],
            "logp_answer": [b.pieces[1].logprob for b in bare],
            "logp_end": [g.pieces[2].logprob for g in given],
            "logp_line_end": [g.pieces[2].logprobs[0] for g in given],
            "prompt_tokens": [g.prompt_tokens + b.prompt_tokens for g, b in zip(given, bare, strict=True)],
            "uncached_tokens": [
                g.uncached_tokens + b.uncached_tokens for g, b in zip(given, bare, strict=True)
            ],
        },
        schema_overrides={
            k: v for k, v in MODEL_COLUMNS.items() if k in ("probs", "answer_tokens", "scored_tokens")
        },
    )
    scored = pl.col("scored_tokens").cast(pl.Float64)
    given_mean = pl.col("logp_answer_given_instruction") / scored
    bare_mean = pl.col("logp_answer") / scored
    return frame.with_columns(
        logp_answer_given_instruction_per_token=pl.when(scored > 0).then(given_mean),
        logp_answer_per_token=pl.when(scored > 0).then(bare_mean),
        # IFD (Li et al. 2024): the answer's loss with the instruction over its loss without
        ifd=pl.when((scored > 0) & (bare_mean < 0)).then(given_mean / bare_mean),
    ).select(list(MODEL_COLUMNS))


def text_signals(instruction: pl.Expr, answer: pl.Expr) -> dict[str, pl.Expr]:
    """Expressions over the two texts: `question_overlap` (F1 of their word sets: an answer that only
    restates the request is near 1), `request_in_answer` (the share of the request's words that the
    answer has), `first_person` (share of first-person words among the answer's first and last
    `EDGE_WORDS` words), `short_lines` (share of lines of three words or fewer)."""
    answer_set = answer.str.to_lowercase().str.extract_all(_WORD).list.unique()
    request_set = instruction.str.to_lowercase().str.extract_all(_WORD).list.unique()
    shared = answer_set.list.set_intersection(request_set).list.len().cast(pl.Float64)
    sizes = answer_set.list.len() + request_set.list.len()
    # forum chatter frames its content with an opening and a sign-off in the first person: measured
    # over the whole text, a long answer dilutes them below what tells it from a plain answer
    words = answer.str.extract_all(r"\S+")
    count = words.list.len()
    tail_start = pl.max_horizontal(count - EDGE_WORDS, pl.lit(EDGE_WORDS)).cast(pl.Int64)
    edges = pl.concat_str(
        [words.list.head(EDGE_WORDS).list.join(" "), words.list.slice(tail_start).list.join(" ")],
        separator=" ",
    )
    edge_words = count.clip(0, EDGE_WORDS) + (count - EDGE_WORDS).clip(0, EDGE_WORDS)
    return {
        "question_overlap": pl.when(sizes > 0).then(2 * shared / sizes).otherwise(0.0),
        "request_in_answer": shared / request_set.list.len().clip(1),
        "first_person": pl.when(edge_words > 0)
        .then(edges.str.count_matches(_FIRST_PERSON) / edge_words)
        .otherwise(0.0),
        "short_lines": answer.str.count_matches(_SHORT_LINE) / answer.str.count_matches(_LINE).clip(1),
    }


def compute_signals(
    engine: Engine,
    prompt: RatingPrompt,
    pairs: pl.DataFrame,
    likelihood_tokens: int = LIKELIHOOD_TOKENS,
    max_input_chars: int = 6000,
    *,
    batch_rows: int = 32,
    show_progress: bool = True,
    desc: str = "calibrate",
) -> pl.DataFrame:
    """`model_signals` of every (instruction, output) row of `pairs`, in its order, batch by batch where
    the engine runs them (in this process, or on Ray actors), with a progress bar."""

    def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
        answers = cut_input(chunk["output"], max_input_chars)["text"].to_list()
        return model_signals(engine, prompt, chunk["instruction"].to_list(), answers, likelihood_tokens)

    chunks = [pairs.slice(offset, batch_rows) for offset in range(0, pairs.height, batch_rows)]
    done: dict[int, pl.DataFrame] = {}
    with tqdm(
        total=pairs.height, unit="pair", desc=desc, disable=not show_progress, dynamic_ncols=True
    ) as bar:
        for index, frame in engine.map_batches(compute, chunks):
            done[index] = frame
            bar.update(chunks[index].height)
    if not chunks:
        return pl.DataFrame(schema=MODEL_COLUMNS)
    return pl.concat([done[i] for i in range(len(chunks))])
