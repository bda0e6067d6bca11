"""Schemas of the warehouse tables. Each table is a folder of Parquet files: `<warehouse>/<table>/`.

The column comments are the table reference; the README repeats them for users.
"""

from __future__ import annotations

import pyarrow as pa

from common.quality_rules import signal_fields

DOCUMENTS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),  # XXH3-128 of url + raw payload bytes
        pa.field("url", pa.string()),  # WARC-Target-URI, the JSONL/Parquet url column, or file:// path
        pa.field("source", pa.string(), nullable=False),  # input file and record: path@offset, path:line
        pa.field("warc_record_id", pa.string()),  # WARC-Record-ID, null outside WARC input
        pa.field("capture_date", pa.string()),  # WARC-Date as written in the record
        pa.field("captured_at", pa.timestamp("us", tz="UTC")),  # capture_date parsed; null if invalid
        pa.field("content_type", pa.string()),  # HTTP Content-Type
        pa.field("declared_charset", pa.string()),  # charset from the HTTP header or the meta tag
        pa.field("encoding", pa.string()),  # the codec that decoded the page
        pa.field("decode_lossy", pa.bool_()),  # true when undecodable bytes were replaced
        pa.field("n_bytes", pa.int64()),  # payload size
        pa.field("title", pa.string()),  # page title found by trafilatura
        pa.field("status", pa.string(), nullable=False),  # ok | no_text (the page has no main text)
        pa.field("n_segments", pa.int32()),  # segments cut from the page
        pa.field("n_chars", pa.int64()),  # characters of extracted text, headers included
        pa.field("batch_id", pa.string()),  # the committed batch that produced the row
    ]
)

_SEGMENT_CORE = [
    pa.field(
        "segment_id", pa.string(), nullable=False
    ),  # XXH3-128 (96 bits kept) of doc_id, position, header, text
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("source", pa.string()),
    pa.field("header", pa.string()),  # the header's text; "" for text before the first header
    pa.field("header_level", pa.int8()),  # 1-6 for h1-h6, 0 for no header
    pa.field("header_path", pa.string()),  # enclosing headers joined by " > "
    pa.field("position", pa.int32()),  # 0-based order of the segment in its document
    pa.field("text", pa.string()),  # the text under the header, paragraphs separated by newlines
    pa.field("n_chars", pa.int32()),
    pa.field("n_words", pa.int32()),
    pa.field("n_lines", pa.int32()),
    pa.field("lang", pa.string()),  # fastText lid.176 language code
    pa.field("lang_score", pa.float32()),  # its probability
    *signal_fields(),  # the quality rules' signals (common/quality_rules.py)
    pa.field("text_hash", pa.uint64()),  # hash of the normalised text, for exact duplicates
]

# What a worker writes for each batch, before the corpus-wide dedup and the thresholds.
STAGED_SEGMENTS = pa.schema(
    # the MinHash signature (dedup.num_perm values; null: fewer words than dedup.ngram): its LSH bands
    # are cut at finalize, for the threshold of that run
    [*_SEGMENT_CORE, pa.field("minhash", pa.list_(pa.uint32()))]
)

SEGMENTS = pa.schema(
    [
        *_SEGMENT_CORE,
        pa.field("dup_cluster", pa.string()),  # id of the duplicate cluster (its smallest segment_id)
        pa.field("is_duplicate", pa.bool_(), nullable=False),  # in a cluster and not its kept member
        pa.field("keep", pa.bool_(), nullable=False),  # passes every filter and is not a duplicate
        pa.field("reasons", pa.list_(pa.string()), nullable=False),  # every reason it is not kept
    ]
)

REJECTS = pa.schema(
    [
        pa.field("reject_id", pa.string(), nullable=False),  # XXH3-128 of source, stage and reason
        pa.field("stage", pa.string(), nullable=False),  # read | decode | extract
        pa.field("reason", pa.string(), nullable=False),  # short machine-readable reason
        pa.field("detail", pa.string()),  # the error message, for people
        pa.field("source", pa.string(), nullable=False),  # input file and record, as in documents
        pa.field("url", pa.string()),
        pa.field("warc_record_id", pa.string()),
        pa.field("n_bytes", pa.int64()),
        pa.field("batch_id", pa.string()),
    ]
)

SEEDS = pa.schema(
    [
        pa.field("seed_id", pa.string(), nullable=False),  # XXH3-128 of instruction NUL output
        pa.field("instruction", pa.string(), nullable=False),  # an input/context field follows a blank line
        pa.field("output", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # file:line, or embedded:line
        pa.field("source_format", pa.string(), nullable=False),  # oasst|self_instruct|dolly|jsonl|embedded
        pa.field("source_ref", pa.string()),  # OASST tree/message ids, Self-Instruct task id#instance
        pa.field("category", pa.string()),  # task type where the source gives one
    ]
)

# Columns every model-made row carries: which model, prompt and sampling made it, and what it cost.
_MODEL_PROVENANCE = [
    pa.field("model", pa.string(), nullable=False),  # sha256 of the GGUF file, or server:<reported id>
    pa.field("model_source", pa.string(), nullable=False),  # the path, package or URL it was loaded from
    pa.field("prompt_version", pa.string(), nullable=False),  # template name and version : fixed-part hash
    pa.field("params", pa.string(), nullable=False),  # sampling and length settings, JSON with sorted keys
    pa.field("prompt_tokens", pa.int32()),  # tokens in the whole prompt
    pa.field("uncached_tokens", pa.int32()),  # of those, the tokens the model had to read for this row
    pa.field("completion_tokens", pa.int32()),
    pa.field("input_truncated", pa.bool_(), nullable=False),  # the segment was cut to fit the context
    pa.field("batch_id", pa.string(), nullable=False),  # the committed part file the row came in
    pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
]

AUGMENTATIONS = pa.schema(
    [
        pa.field("augmentation_id", pa.string(), nullable=False),  # XXH3-128 of the key below
        # key: one row per (segment_id, iteration, model, prompt_version)
        pa.field("segment_id", pa.string(), nullable=False),
        pa.field("iteration", pa.int32(), nullable=False),  # 0 until a fine-tuned model exists
        pa.field("backward_model", pa.string(), nullable=False),  # few_shot_base | fine_tuned
        pa.field("instruction", pa.string()),  # the cleaned instruction; null unless status is ok
        pa.field("instruction_words", pa.int32()),  # its words, counted as segments' n_words
        pa.field(
            "status", pa.string(), nullable=False
        ),  # ok | empty | too_short | too_long | no_stop | copied_example | needs_input | not_a_question
        # | not_answered (good draws, none scoring the drawing's floor: no pair rather than a wrong one)
        pa.field("raw_output", pa.string()),  # what the model wrote, before cleaning
        pa.field("sampling_seed", pa.int64(), nullable=False),  # the kept draw's seed (run seed, row, draw)
        pa.field("attempt_seeds", pa.list_(pa.int64())),  # every draw's seed (inference/instructions.py)
        pa.field("attempt_statuses", pa.list_(pa.string())),  # what cleaning made of each draw
        pa.field("attempt_instructions", pa.list_(pa.string())),  # and its instruction (null: failed)
        # log p(segment | instruction) - log p(segment) per token of its first 16: how well the instruction
        # fits its segment, read through the rating prompt; null for a single draw or when no draw cleaned
        # (a not_answered row keeps its best draw's gain and coverage, and that draw's raw_output and seed)
        pa.field("gain", pa.float64()),
        # the share of its content words that the segment mentions (inference/coverage.py): with the gain,
        # the choice among draws
        pa.field("coverage", pa.float64()),
        *_MODEL_PROVENANCE,
    ]
)

# What a rating adds to the rated pair, in `scores` and `task_scores` alike.
_RATING = [
    pa.field("iteration", pa.int32(), nullable=False),
    pa.field("mode", pa.string(), nullable=False),  # calibrated | direct | reasoned
    pa.field("score", pa.int8()),  # 1-5; null when no score could be read (see parse_status)
    # calibrated: from p_good through the calibration's levels; direct: sum of k * p(k); reasoned: the score
    pa.field("expected_score", pa.float64()),
    pa.field("probs", pa.list_(pa.float64())),  # direct, calibrated: the rubric's p(1)..p(5), summing to 1
    pa.field("reasoning", pa.string()),  # reasoned: the model's text before its score line
    pa.field("raw_output", pa.string()),  # reasoned: everything the model wrote
    pa.field("parse_status", pa.string(), nullable=False),  # ok | no_match | out_of_range | truncated
    pa.field("status", pa.string(), nullable=False),  # ok | unscored
    # calibrated mode: the fitted calibration's verdict, and the likelihood signals it read
    pa.field("p_good", pa.float64()),  # probability of a good pair (each kind of bad pair as common)
    pa.field("calibration", pa.string()),  # the calibration's version (see the calibrations table)
    pa.field("answer_tokens", pa.int32()),  # tokens of the answer as the rater read it
    pa.field("scored_tokens", pa.int32()),  # its first tokens that the log-probabilities cover
    pa.field("logp_answer_given_instruction", pa.float64()),  # sum of log p(token | request, ...)
    pa.field("logp_answer", pa.float64()),  # sum of log p(token | ...) without the request
    pa.field("logp_answer_given_instruction_per_token", pa.float64()),
    pa.field("logp_answer_per_token", pa.float64()),
    pa.field("ifd", pa.float64()),  # the answer's loss with the request over its loss without (IFD)
    pa.field("logp_end", pa.float64()),  # log p(the answer ends where it ends | request, answer)
    pa.field("logp_line_end", pa.float64()),  # of that, the line break right after the answer
]

SCORES = pa.schema(
    [
        pa.field("score_id", pa.string(), nullable=False),  # XXH3-128 of the key below
        # key: one row per (augmentation_id, model, prompt_version, mode)
        pa.field("augmentation_id", pa.string(), nullable=False),  # the rated (instruction, segment) pair
        pa.field("segment_id", pa.string(), nullable=False),
        *_RATING,
        *_MODEL_PROVENANCE,
    ]
)

# `humpback score` (inference/score.py): one row per scored pair of an instruction file, kept in the
# run's work folder until the output file is written.
PAIR_SCORES = pa.schema(
    [
        pa.field("pair_key", pa.string(), nullable=False),  # XXH3-128 of the row's line, item and texts
        *[f for f in _RATING if f.name != "iteration"],
        *_MODEL_PROVENANCE,
    ]
)

# `humpback likelihood`'s work folder: each reference pair's mean log-likelihood per output token under
# one model, committed batch by batch so a killed run resumes.
REFERENCE_LIKELIHOODS = pa.schema(
    [
        pa.field("pair_key", pa.string(), nullable=False),  # XXH3-128 of the row's line, item and texts
        pa.field("status", pa.string(), nullable=False),  # ok, or why the pair has no value
        pa.field("loglik_per_token", pa.float64()),  # mean log p(output token | instruction, earlier tokens)
        pa.field("output_tokens", pa.int32()),  # the output tokens scored
        *_MODEL_PROVENANCE,
    ]
)

# Self-Instruct (inference/self_instruct/): seed tasks, generated instructions, their classification and
# instances, the ratings of the instances, and `tasks`, the pool assembled from all of them.
INSTANCE = pa.struct([pa.field("input", pa.string()), pa.field("output", pa.string())])

SEED_TASKS = pa.schema(
    [
        pa.field("task_id", pa.string(), nullable=False),  # XXH3-128 of the instruction, spaces collapsed
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("instances", pa.list_(INSTANCE), nullable=False),  # input "" when the task needs none
        pa.field("is_classification", pa.bool_()),  # as the file says; null when it says nothing
        pa.field("source", pa.string(), nullable=False),  # file:line, or embedded:line
        pa.field("source_format", pa.string(), nullable=False),  # self_instruct | embedded | jsonl
        pa.field("source_ref", pa.string()),  # the file's task id and name
    ]
)

TASK_CANDIDATES = pa.schema(
    [
        pa.field("candidate_id", pa.string(), nullable=False),  # XXH3-128 of generation_id and item
        pa.field("generation_id", pa.string(), nullable=False),  # the prompt: round, index, model, version
        pa.field("round", pa.int32(), nullable=False),  # generation round, from 1
        pa.field("prompt_index", pa.int32(), nullable=False),  # the prompt's place in its round
        pa.field("item", pa.int32()),  # the instruction's number in the model's list; null: none parsed
        pa.field("task_id", pa.string()),  # XXH3-128 of the instruction, as in seed_tasks
        pa.field("instruction", pa.string()),  # whitespace collapsed; null when nothing was parsed
        pa.field("instruction_words", pa.int32()),
        # ok (joins the pool) | unfinished | empty | too_short | too_long | unsupported | bad_start
        # | similar | no_items (the prompt gave no instruction at all)
        pa.field("status", pa.string(), nullable=False),
        pa.field("similar_to", pa.string()),  # similar: task_id of the pool's most similar instruction
        pa.field("rouge_l", pa.float64()),  # similar: its ROUGE-L F-measure
        pa.field("shown_task_ids", pa.list_(pa.string()), nullable=False),  # the prompt's 8 instructions
        pa.field("raw_output", pa.string()),  # what the model wrote for the prompt
        pa.field("sampling_seed", pa.int64(), nullable=False),
        *_MODEL_PROVENANCE,
    ]
)

TASK_CLASSES = pa.schema(
    [
        pa.field("task_id", pa.string(), nullable=False),  # key: (task_id, model, prompt_version)
        pa.field("is_classification", pa.bool_()),  # p_yes > 0.5; null when unscored
        pa.field("p_yes", pa.float64()),  # p(" Yes") over p(" Yes") + p(" No")
        pa.field("status", pa.string(), nullable=False),  # ok | unscored
        *_MODEL_PROVENANCE,
    ]
)

TASK_INSTANCES = pa.schema(
    [
        pa.field("instance_id", pa.string(), nullable=False),  # XXH3-128 of the key below
        # key: (task_id, sample, model, prompt_version): one sampled instance per sample
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("sample", pa.int32(), nullable=False),
        pa.field("output_first", pa.bool_(), nullable=False),  # classification: the label, then its input
        pa.field("input", pa.string()),  # "" when the task needs no input
        pa.field("output", pa.string()),
        # ok | unfinished | unparsed | empty_output | same_input_output | duplicate | conflicting_outputs
        pa.field("status", pa.string(), nullable=False),
        pa.field("raw_output", pa.string()),
        pa.field("sampling_seed", pa.int64(), nullable=False),
        *_MODEL_PROVENANCE,
    ]
)

TASK_SCORES = pa.schema(
    [
        pa.field("score_id", pa.string(), nullable=False),  # XXH3-128 of the key below
        # key: one row per (instance_id, model, prompt_version, mode)
        pa.field("instance_id", pa.string(), nullable=False),  # the rated (instruction + input, output)
        pa.field("task_id", pa.string(), nullable=False),
        *_RATING,
        *_MODEL_PROVENANCE,
    ]
)

# The task pool, rebuilt from the tables above after every Self-Instruct run (sql/self_instruct/tasks.sql).
TASKS = pa.schema(
    [
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("instances", pa.list_(INSTANCE), nullable=False),  # generated: the instances with status ok
        pa.field("is_classification", pa.bool_()),  # generated: the generating model's decision
        pa.field("origin", pa.string(), nullable=False),  # seed | generated
        pa.field("round", pa.int32(), nullable=False),  # generation round; 0 for seed tasks
        pa.field("source", pa.string(), nullable=False),  # seed: file:line; generated: its candidate_id
        pa.field("model", pa.string()),  # generated: the model that wrote the instruction
        pa.field("prompt_version", pa.string()),
    ]
)

# Pairwise evaluation (inference/eval/): the prompt sets, the runs comparing two answer sources with a
# judge, the answers, and the judge's verdict on every pair in each order.
EVAL_PROMPTS = pa.schema(
    [
        pa.field("prompt_set", pa.string(), nullable=False),  # XXH3-128 of the set's prompt ids, in order
        pa.field("prompt_id", pa.string(), nullable=False),  # XXH3-128 of the prompt, whitespace collapsed
        pa.field("position", pa.int32(), nullable=False),  # its place in the file, from 0
        pa.field("source_id", pa.string()),  # the file's question_id or id
        pa.field("category", pa.string()),  # the file's category, when it has one
        pa.field("instruction", pa.string(), nullable=False),  # the prompt: the first turn of `turns`
        pa.field("source", pa.string(), nullable=False),  # file:line
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# What answers one side: a model under a system prompt, prompt and sampling, or a file of answers.
_ANSWER_SET = [
    pa.field("answer_set", pa.string(), nullable=False),  # XXH3-128 of model, system, prompt, params
    pa.field("answer_set_label", pa.string(), nullable=False),  # the model path or answers file, for people
]

EVAL_RUNS = pa.schema(
    [
        pa.field("eval_id", pa.string(), nullable=False),  # XXH3-128 of prompt set, both answer sets, judge
        pa.field("prompt_set", pa.string(), nullable=False),
        pa.field("prompts_source", pa.string(), nullable=False),  # the prompt file
        pa.field("answers_a", pa.string(), nullable=False),  # side A's answer_set
        pa.field("label_a", pa.string(), nullable=False),
        pa.field("answers_b", pa.string(), nullable=False),
        pa.field("label_b", pa.string(), nullable=False),
        pa.field("judge", pa.string(), nullable=False),  # the judge's model id, as in eval_judgments
        pa.field("judge_source", pa.string(), nullable=False),
        pa.field("judge_prompt_version", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

EVAL_ANSWERS = pa.schema(
    [
        pa.field("answer_id", pa.string(), nullable=False),  # XXH3-128 of (prompt_id, answer_set)
        pa.field("prompt_id", pa.string(), nullable=False),
        *_ANSWER_SET,
        pa.field("answer", pa.string()),  # null when an answers file has none for the prompt
        pa.field("status", pa.string(), nullable=False),  # ok | empty | unfinished | missing
        pa.field("origin", pa.string(), nullable=False),  # model | file
        pa.field("system", pa.string()),  # model: the system prompt it answered under
        pa.field("sampling_seed", pa.int64()),  # model: this row's seed
        *_MODEL_PROVENANCE,  # file: model is file:<sha256 of the file>, prompt_version answers-file
    ]
)

EVAL_JUDGMENTS = pa.schema(
    [
        pa.field("judgment_id", pa.string(), nullable=False),  # XXH3-128 of the key below
        # key: one row per (first_answer_id, second_answer_id, model, prompt_version)
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("first_answer_id", pa.string(), nullable=False),  # shown as answer A
        pa.field("second_answer_id", pa.string(), nullable=False),  # shown as answer B
        pa.field("p_first", pa.float64()),  # p(" A") over p(" A") + p(" B"), as the judge gave it
        pa.field("position_prior", pa.float64()),  # the judge's p(" A") on content-free pairs
        pa.field("p_first_calibrated", pa.float64()),  # p_first with that prior divided out
        pa.field("verdict", pa.string()),  # first | second | even; null when unscored
        pa.field("status", pa.string(), nullable=False),  # ok | unscored
        *_MODEL_PROVENANCE,  # input_truncated: an answer was cut to fit
    ]
)

# One row per trained model: what it was trained from and on, how, and the GGUF file the model stages load.
# Augmentation and score rows point at it: their `model` is this table's `gguf_sha256`.
# One row per fitted calibration of the calibrated scoring mode (inference/curation/calibration.py).
CALIBRATIONS = pa.schema(
    [
        pa.field("calibration", pa.string(), nullable=False),  # version: recipe and a hash of the fit
        pa.field("key", pa.string(), nullable=False),  # hash of what determines the fit (see below)
        pa.field("recipe", pa.string(), nullable=False),  # the feature set and fitting procedure
        pa.field("model", pa.string(), nullable=False),  # the rating model it was fitted for
        pa.field("prompt_version", pa.string(), nullable=False),  # the rating prompt it reads
        pa.field("likelihood_tokens", pa.int32(), nullable=False),  # answer tokens the signals cover
        pa.field("seed_set", pa.string(), nullable=False),  # hash of the seed ids it was fitted on
        pa.field("seed_pairs", pa.int32(), nullable=False),
        pa.field("negatives", pa.string(), nullable=False),  # JSON: count of each kind made from them
        pa.field("figures", pa.string(), nullable=False),  # JSON: cross-validated AUROC, A_k precision
        pa.field("record", pa.string(), nullable=False),  # JSON: the whole calibration, ensemble included
        pa.field("fit_seconds", pa.float64()),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

MODELS = pa.schema(
    [
        pa.field("gguf_sha256", pa.string(), nullable=False),  # the exported file's sha256: rows' `model`
        pa.field("name", pa.string(), nullable=False),  # M_yx (backward), M0, M1, ... (forward)
        pa.field("role", pa.string(), nullable=False),  # backward: p(instruction | output) | forward
        pa.field("iteration", pa.int32(), nullable=False),  # backward: 0; forward M_t: t
        pa.field("artifact_key", pa.string(), nullable=False),  # hash of base, data, settings, format
        pa.field("base_model", pa.string(), nullable=False),  # sha256 of the base GGUF, or of the HF folder
        pa.field("base_source", pa.string(), nullable=False),  # the path or package it came from
        pa.field("train_data", pa.string(), nullable=False),  # the query: training_pairs(t, k, mode) or seeds
        pa.field("train_data_hash", pa.string(), nullable=False),  # XXH3-128 of the rendered rows, in order
        pa.field("train_rows", pa.int64(), nullable=False),
        pa.field("seed_rows", pa.int64(), nullable=False),  # of those, seed pairs
        pa.field("augmented_rows", pa.int64(), nullable=False),  # of those, curated augmented pairs
        pa.field("heldout_rows", pa.int64(), nullable=False),  # rows kept out of training for evaluation
        pa.field("method", pa.string(), nullable=False),  # lora | full
        pa.field("settings", pa.string(), nullable=False),  # every training setting, JSON with sorted keys
        pa.field("prompt_format", pa.string(), nullable=False),  # how prompts are rendered (prompts/chat.py)
        pa.field("steps", pa.int32(), nullable=False),
        pa.field("train_tokens", pa.int64(), nullable=False),  # tokens seen in training, padding excluded
        pa.field("train_seconds", pa.float64(), nullable=False),
        pa.field("first_loss", pa.float64()),  # mean loss of the first logged steps
        pa.field("final_loss", pa.float64()),  # mean loss of the last logged steps
        # mean log-likelihood per output token of the held-out rows: base and trained, PyTorch and GGUF
        pa.field("heldout_loglik_base_torch", pa.float64()),
        pa.field("heldout_loglik_torch", pa.float64()),
        pa.field("heldout_loglik_base_gguf", pa.float64()),
        pa.field("heldout_loglik_gguf", pa.float64()),
        pa.field("gguf_path", pa.string(), nullable=False),
        pa.field("gguf_type", pa.string(), nullable=False),  # f16 | q8_0 | f32
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# benchmarks/data_value.py: forward models trained on each kind of data, measured on held-out human answers
# (the mean log-likelihood per output token) and by the judge against the seeds-only model.
DATA_VALUE = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),  # XXH3-128 of the run's settings and models
        pa.field("budget", pa.string(), nullable=False),  # small | full
        pa.field("half", pa.string(), nullable=False),  # the reference set's tune | report half, or all
        pa.field("variant", pa.string(), nullable=False),  # seeds | curated | random | all | curated-untagged
        pa.field("training_seeds", pa.int32(), nullable=False),
        pa.field("steps", pa.int32(), nullable=False),  # optimiser steps of every model
        pa.field("train_rows", pa.int64(), nullable=False),  # of the first training seed's model
        pa.field("augmented_rows", pa.int64(), nullable=False),
        pa.field("pairs", pa.int32(), nullable=False),  # reference pairs every model read
        pa.field("mean", pa.float64(), nullable=False),  # over pairs and training seeds
        pa.field("vs_seeds", pa.float64(), nullable=False),  # mean difference against the seeds-only models
        pa.field("vs_seeds_low", pa.float64(), nullable=False),  # its 95% interval over pairs and seeds
        pa.field("vs_seeds_high", pa.float64(), nullable=False),
        pa.field("vs_random", pa.float64(), nullable=False),  # against seeds + random pairs of A_k's size
        pa.field("vs_random_low", pa.float64(), nullable=False),
        pa.field("vs_random_high", pa.float64(), nullable=False),
        pa.field("judge_win_rate", pa.float64()),  # against seeds-only, ties as half; null: not judged
        pa.field("judge_ci_low", pa.float64()),
        pa.field("judge_ci_high", pa.float64()),
        pa.field("judge_prompts", pa.int32()),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "segments": SEGMENTS,
    "rejects": REJECTS,
    "seeds": SEEDS,
    "augmentations": AUGMENTATIONS,
    "scores": SCORES,
    "calibrations": CALIBRATIONS,
    "models": MODELS,
    "seed_tasks": SEED_TASKS,
    "task_candidates": TASK_CANDIDATES,
    "task_classes": TASK_CLASSES,
    "task_instances": TASK_INSTANCES,
    "task_scores": TASK_SCORES,
    "tasks": TASKS,
    "eval_prompts": EVAL_PROMPTS,
    "eval_runs": EVAL_RUNS,
    "eval_answers": EVAL_ANSWERS,
    "eval_judgments": EVAL_JUDGMENTS,
    "data_value": DATA_VALUE,
}

# Which tables `humpback compact` and the end of a model stage's run may merge into fewer, bigger files
# (warehouse/compact.py), and why. A table is compacted only when its rows are found again by their keys:
# the model stages ask the tables which keys are done, so a compacted table still tells them. A table
# whose file is replaced by name (a rerun rewrites `part-<id>.parquet` in place) is left alone: after a
# merge, that rerun would add its rows a second time.
COMPACTED_TABLES: dict[str, str] = {
    "augmentations": "model stage (augment): pending segments are the keys missing from the table",
    "scores": "model stage (curate): pending pairs are the augmentation keys missing from the table",
    "task_candidates": "self-instruct rounds: a run resumes after max(round), read from the rows",
    "task_classes": "model stage (self-instruct classify): pending by task_id",
    "task_instances": "model stage (self-instruct instances): pending by (task_id, sample)",
    "task_scores": "model stage (curate --pairs self-instruct): pending by instance_id",
    "eval_answers": "model answers pending by answer_id; answer-file loads (part-file-*) stay as they are",
    "eval_judgments": "model stage (eval judge): pending by judgment_id",
    # Rewritten whole by the ETL's finalize in parts of 500,000 rows (Ray: a part per writer task):
    # compaction merges only the small parts, when there are enough of them, and the next finalize
    # replaces the table anyway.
    "documents": "rewritten whole by the ETL's finalize; rows found by doc_id",
    "segments": "rewritten whole by the ETL's finalize; rows found by segment_id",
    "rejects": "rewritten whole by the ETL's finalize; rows found by reject_id",
}

# Files of a compacted table that are replaced by name, and therefore never merged.
KEPT_BY_NAME: dict[str, tuple[str, ...]] = {
    "eval_answers": ("part-file-*",),  # inference/eval/answers.py: a reload of a file replaces its part
}

NOT_COMPACTED: dict[str, str] = {
    "seeds": "rewritten whole as one file by `humpback seed load`",
    "seed_tasks": "rewritten whole as one file by `humpback tasks load`",
    "tasks": "rewritten whole as one file after every self-instruct run",
    "calibrations": "one file per fit, named by its key; a handful of rows",
    "models": "registry: re-registering a model rewrites its part by name",
    "eval_prompts": "a prompt set's part is named by the set: registering it again replaces it",
    "eval_runs": "part-<eval_id>: a rerun of an evaluation replaces its row by file name",
    "data_value": "part-<run_id>: a benchmark run's rows, replaced by file name when it is run again",
}
