"""reports/index.html: every section, self-contained, and nothing from the data can
inject markup. The input is a user's CSV-labelled dataset with a hostile label, a
hostile file name and a hostile review note, run through the real stages in-process."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from augmill.flows.cli import main
from augmill.tasks import paths
from augmill.tasks.modalities import get_modality
from augmill.tasks.report import build_report
from tests.test_evaluate import project_here, run_pipeline

HOSTILE_LABEL = "<script>alert(1)</script>"
HOSTILE_NOTE = '<img src=x onerror="alert(2)">'
SECTIONS = ("explore", "bias", "labels", "distribution", "validation", "gallery", "quarantine", "evaluate", "review")
USER = {"prepare": {"dataset": "none"}, "data": {"raw_dir": "data/user", "manifest_csv": "data/user/labels.csv"}}


def _png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((pixels * 15).astype("uint8"), "L").resize((24, 24)).save(buffer, "PNG")
    return buffer.getvalue()


def write_user_dataset(root: Path) -> None:
    digits = load_digits()
    user = root / "data" / "user"
    user.mkdir(parents=True)
    names = {0: "zero", 1: "one", 2: HOSTILE_LABEL}
    rows = []
    for index in range(len(digits.target)):
        if digits.target[index] in names and sum(r[1] == names[digits.target[index]] for r in rows) < 30:
            (user / f"img{index}.png").write_bytes(_png(digits.images[index]))
            rows.append((f"img{index}.png", names[digits.target[index]]))
    (user / "evil<i>name.png").write_bytes(b"not an image")
    rows.append(("evil<i>name.png", "one"))
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(user / "labels.csv", index=False)
    (root / "reviews").mkdir()
    pd.DataFrame([{"target": "op:contrast", "decision": "reject", "note": HOSTILE_NOTE, "reviewer": "<b>eve</b>",
                   "date": "2025-01-01"}]).to_csv(root / "reviews" / "decisions.csv", index=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("report")
    write_user_dataset(root)
    run_pipeline(root, USER, stages=("explore", "bias", "augment", "validate", "merge", "evaluate"))
    return root, (root / paths.REPORT_PAGE).read_text(encoding="utf-8")


def test_every_section_is_present_and_filled(report):
    _, html = report
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert "Not available yet" not in html
    assert 'href="gx_docs/index.html"' in html and 'href="validation.html"' in html and 'href="gallery.html"' in html
    assert 'href="label_review.html"' in html
    # Self-contained: plots and thumbnails are inline PNGs, nothing is fetched.
    images = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(images) > 20 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for title in ("Exploration profile", "rebalancing plan", "before and after", "Great Expectations",
                  "sources beside their variants", "Quarantine", "Does augmentation help?", "Review decisions"):
        assert title in html
    # The operators of the policy each have a group with a reject box; variants have theirs.
    assert 'data-target="op:rotate"' in html and re.search(r'data-target="img\d+-[0-9a-f]+-aug\d{3}"', html)


def test_data_cannot_inject_markup(report):
    _, html = report
    assert HOSTILE_LABEL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert "<b>eve</b>" not in html and "&lt;b&gt;eve&lt;/b&gt;" in html
    assert "evil<i>name" not in html and "evil&lt;i&gt;name" in html  # the unreadable file, in the quarantine
    assert html.count("<script") == 1  # the page's own review script, nothing else


def test_review_rejections_show_in_the_quarantine_and_gallery(report):
    root, html = report
    quarantine = pd.read_csv(root / paths.QUARANTINE, dtype=str, keep_default_na=False)
    reviewed = quarantine[quarantine["stage"] == "review"]
    assert len(reviewed) > 0 and (reviewed["reason_code"] == "review_rejected").all()
    assert reviewed["reason"].str.contains("op:contrast").all()
    assert "rejected in review" in html and "(already rejected)" in html


def test_report_command_rebuilds_the_same_page(report, capsys):
    root, html = report
    with project_here(root, USER):
        assert main(["report"]) == 0
    assert capsys.readouterr().out.strip() == str(paths.REPORT_PAGE)
    assert (root / paths.REPORT_PAGE).read_text(encoding="utf-8") == html


def test_page_does_not_depend_on_the_manifest_column_order(report):
    root, html = report
    manifest = root / paths.RAW_MANIFEST
    original = manifest.read_bytes()
    frame = pd.read_parquet(manifest)
    try:
        frame[list(reversed(frame.columns))].to_parquet(manifest)
        with project_here(root, USER) as params:
            assert build_report(params).read_text(encoding="utf-8") == html
    finally:
        manifest.write_bytes(original)


def test_report_before_the_pipeline_ran_says_what_is_missing(tmp_path):
    with project_here(tmp_path) as params:
        path = build_report(params)
        html = path.read_text(encoding="utf-8")
    assert html.count("Not available yet") == 7 and 'id="review"' in html


def test_preview_draws_the_first_variant_of_samples_from_every_class(tmp_path, monkeypatch):
    from augmill.tasks import preview

    run_pipeline(tmp_path, stages=("prepare",))
    with project_here(tmp_path) as params:
        raw, _ = get_modality("image").read_raw(params)
        chosen = preview.choose_samples(raw, 12, params.seed)
        path = preview.run(params, n=12)
        data = path.read_bytes()
        assert path == paths.PREVIEW.with_suffix(".png") and data[:8] == b"\x89PNG\r\n\x1a\n"
        assert preview.run(params, n=12).read_bytes() == data  # same params, same picture
        monkeypatch.setattr(preview, "get_modality", lambda name: object())
        with pytest.raises(preview.NoPreview, match="has no preview yet"):
            preview.run(params)
    assert set(chosen["label"]) == set(raw.loc[raw["split"] == "train", "label"])  # 10 classes among 12 samples
    assert (chosen["split"] == "train").all() and chosen["sample_id"].is_unique
