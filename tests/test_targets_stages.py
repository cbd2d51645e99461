"""data.targets in the stages, piece by piece: the manifests' targets column, explore's reading of
COCO/YOLO with hostile entries quarantined, validate's target suites, bias's plan by objects,
and init's layout detection. The whole pipeline runs in test_e2e_targets.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from augmill.tasks.augment import assign_variants
from augmill.tasks.inspect_data import annotation_layout
from augmill.tasks.modalities.image import modality as image
from augmill.tasks.modalities.image.annotated import targets_from_json, targets_to_json
from augmill.tasks.modalities.image.annotated_checks import target_checks
from augmill.tasks.modalities.image.coco import write_coco
from augmill.tasks.modalities.image.masks import write_masks
from augmill.tasks.modalities.image.shapes import CATEGORIES, write_shapes
from augmill.tasks.modalities.image.yolo import write_yolo
from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import parse_params
from augmill.tasks.validate import decide

REPO = Path(__file__).resolve().parents[1]


def params_for(raw_dir: Path, targets: str = "coco", **data):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(raw_dir=str(raw_dir), targets=targets, **data)
    return parse_params(raw)


def test_targets_json_round_trips_boxes_polygons_masks_keypoints_and_visibility(tmp_path):
    source = write_shapes(tmp_path, {"train": 3}, seed=2)[0].targets
    first = source.objects[0]
    objects = (replace(first, keypoints=np.array([[3.5, 4.0, 2.0], [0.0, 0.0, 0.0]]), visibility=0.625),
               replace(source.objects[-1], mask=None), *source.objects[1:-1])
    targets = replace(source, objects=objects)
    back = targets_from_json(targets_to_json(targets))
    assert (back.width, back.height) == (targets.width, targets.height)
    for a, b in zip(targets.objects, back.objects, strict=True):
        assert (a.object_id, a.category, a.box, a.visibility) == (b.object_id, b.category, b.box, b.visibility)
        assert (a.mask is None) == (b.mask is None) and (a.mask is None or np.array_equal(a.mask, b.mask))
        if a.mask is None:  # without a mask the polygon is what is kept
            assert all(np.allclose(p, q) for p, q in zip(a.polygon, b.polygon, strict=True))
    assert np.array_equal(back.objects[0].keypoints, objects[0].keypoints)


def hostile_coco(root: Path) -> None:
    annotated = write_shapes(root, {"train": 6, "test": 3}, seed=4)
    write_coco(annotated, CATEGORIES, root / "annotations" / "instances.json")
    path = root / "annotations" / "instances.json"
    data = json.loads(path.read_text())
    by_image = {}
    for annotation in data["annotations"]:
        by_image.setdefault(annotation["image_id"], annotation)
    first, second, third = sorted(by_image)[:3]
    by_image[first]["category_id"] = 99  # unknown class
    by_image[second]["bbox"] = [80, 60, 50, 50]  # far outside the 96 x 72 image
    by_image[third]["bbox"][2] = float("nan")
    data["annotations"].append({"id": 999, "image_id": 4242, "category_id": 1, "bbox": [1, 1, 2, 2]})
    path.write_text(json.dumps(data))


def test_explore_quarantines_hostile_coco_entries_with_their_codes_and_keeps_the_rest(tmp_path, monkeypatch):
    hostile_coco(tmp_path / "raw")
    monkeypatch.chdir(tmp_path)
    frame, context = image.read_raw(params_for(tmp_path / "raw"))
    bad = frame[frame["status"] != "ok"]
    assert sorted(bad["reason_code"]) == ["annotation_without_image", "box_not_finite", "box_outside_image",
                                          "unknown_category"]
    assert all("instances.json" in reason for reason in bad["reason"])
    ok = frame[frame["status"] == "ok"]
    assert len(ok) == 9 - 3 and ok["targets"].notna().all() and bad["targets"].isna().all()
    # Every object of a kept image is in its targets cell; labels are the rarest class present.
    objects = sum(len(targets_from_json(t).objects) for t in ok["targets"])
    profiled = sum(section["objects"] for section in context["objects"].values())
    assert objects == profiled > 0
    assert set(ok["label"]) <= set(CATEGORIES.values()) | {"background"}


def test_explore_reads_yolo_and_splits_by_folder(tmp_path, monkeypatch):
    write_yolo(write_shapes(tmp_path / "raw", {"train": 4, "val": 2, "test": 2}, seed=1), CATEGORIES, tmp_path / "raw")
    (tmp_path / "raw" / "labels" / "train" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    monkeypatch.chdir(tmp_path)
    frame, _ = image.read_raw(params_for(tmp_path / "raw", "yolo"))
    ok = frame[frame["status"] == "ok"]
    assert ok["split"].value_counts().to_dict() == {"train": 4, "val": 2, "test": 2}
    assert frame.loc[frame["status"] != "ok", "reason_code"].tolist() == ["label_without_image"]


def test_targets_come_from_the_annotation_files_not_a_csv_manifest():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(targets="coco", manifest_csv="labels.csv")
    with pytest.raises(ParamsError, match="data.targets"):
        parse_params(raw)


def variant_rows(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    source = write_shapes(tmp_path, {"train": 2}, seed=6)
    sources = pd.DataFrame({"sample_id": [s.sample_id for s in source],
                            "targets": [targets_to_json(s.targets) for s in source]})
    augmented = pd.DataFrame({"sample_id": [f"{s.sample_id}-v" for s in source],
                              "source_id": [s.sample_id for s in source], "ops": "[]",
                              "targets": [targets_to_json(s.targets) for s in source]})
    return augmented, sources


def test_target_suites_pass_faithful_variants_and_quarantine_broken_ones_with_codes(tmp_path):
    augmented, sources = variant_rows(tmp_path)
    failures, summary = target_checks(augmented, sources, None)
    assert failures == {} and all(s["success"] for s in summary["suites"].values())

    first, second = (targets_from_json(t) for t in augmented["targets"])
    moved = replace(first.objects[0], box=(first.width - 2.0, 0.0, first.width + 5.0, 4.0), mask=None, polygon=())
    augmented.loc[0, "targets"] = targets_to_json(replace(first, objects=(moved, *first.objects[1:])))
    # An object gone without a recorded drop (the ops say nothing was dropped).
    augmented.loc[1, "targets"] = targets_to_json(replace(second, objects=second.objects[1:]))
    failures, summary = target_checks(augmented, sources, None)
    assert set(failures) == set(augmented["sample_id"])
    features = pd.DataFrame({"sample_id": augmented["sample_id"], "unreadable": ""})
    validated = decide(augmented, features, failures, image.REASON_CODES)
    assert validated["reason_code"].tolist() == ["box_outside_image", "object_count_mismatch"]
    assert first.objects[0].object_id in validated["reason"].iat[0]


def test_a_plan_by_source_gives_exactly_its_variants():
    sources = pd.DataFrame({"source_id": ["a", "b", "c"], "label": ["x", "x", "y"]})
    plan = {"classes": {"x": {"new": 10}}, "variants_per_source": {"b": 3, "c": 1}}
    assert assign_variants(sources, plan, seed=1)["variants"].tolist() == [0, 3, 1]


def test_init_detects_coco_yolo_and_mask_layouts(tmp_path):
    annotated = write_shapes(tmp_path / "c", {"train": 2}, seed=1)
    write_coco(annotated, CATEGORIES, tmp_path / "c" / "annotations" / "train.json")
    write_yolo(write_shapes(tmp_path / "y", {"train": 2}, seed=1), CATEGORIES, tmp_path / "y")
    assert annotation_layout(tmp_path / "c") == "coco"
    assert annotation_layout(tmp_path / "y") == "yolo"
    write_masks(write_shapes(tmp_path / "m", {"train": 2}, seed=1), CATEGORIES, tmp_path / "m", tmp_path / "m" / "images")
    assert annotation_layout(tmp_path / "m") == "masks"
    (tmp_path / "plain" / "images").mkdir(parents=True)
    assert annotation_layout(tmp_path / "plain") is None


def test_explore_reads_mask_folders_splits_by_folder_and_quarantines_bad_masks(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    write_masks(write_shapes(raw, {"train": 4, "val": 2, "test": 2}, seed=1), {0: "background"} | CATEGORIES, raw,
                raw / "images")
    Image.new("L", (5, 5)).save(raw / "masks" / "train" / "train_0001.png")  # another size than its image
    Image.new("L", (96, 72), 9).save(raw / "masks" / "val" / "val_0000.png")  # class 9 is not in classes.txt
    Image.new("L", (96, 72)).save(raw / "masks" / "test" / "orphan.png")
    monkeypatch.chdir(tmp_path)
    frame, context = image.read_raw(params_for(raw, "masks"))
    ok = frame[frame["status"] == "ok"]
    assert ok["split"].value_counts().to_dict() == {"train": 3, "val": 1, "test": 2}
    assert sorted(frame.loc[frame["status"] != "ok", "reason_code"]) == ["label_without_image", "mask_size_mismatch",
                                                                          "unknown_category"]
    assert context["categories"]["0"] == "background"
    # The manifest's targets carry each class's pixels as one object with its mask.
    targets = targets_from_json(ok["targets"].iloc[0])
    assert targets.objects and all(o.mask is not None and o.category in CATEGORIES for o in targets.objects)


@pytest.mark.parametrize("policy", ["rebalance", "report"])
def test_bias_counts_objects_and_rebalances_by_the_images_holding_rare_classes(tmp_path, monkeypatch, policy):
    from augmill.tasks import bias, explore

    annotated = write_shapes(tmp_path / "raw", {"train": 12, "test": 4}, seed=3)
    write_coco(annotated, CATEGORIES, tmp_path / "raw" / "annotations" / "instances.json")
    monkeypatch.chdir(tmp_path)
    params = params_for(tmp_path / "raw")
    params = params.model_copy(update={"bias": params.bias.model_copy(update={"policy": policy})})
    explore.run(params)
    report, plan, _ = bias.assess(pd.read_parquet("data/interim/raw_manifest.parquet"), params)
    counts = {}
    for image_ in annotated:
        if image_.split == "train":
            for obj in image_.targets.objects:
                counts[CATEGORIES[obj.category]] = counts.get(CATEGORIES[obj.category], 0) + 1
    assert report["objects"]["objects_per_class"] == counts
    if policy == "report":
        assert "variants_per_source" not in plan
        return
    manifest = pd.read_parquet("data/interim/raw_manifest.parquet")
    ids = dict(zip(manifest["path"], manifest["sample_id"], strict=True))
    variants = {ids[f"images/{i.sample_id}"]: plan["variants_per_source"].get(ids[f"images/{i.sample_id}"], 0)
                for i in annotated if i.split == "train"}
    holding = {ids[f"images/{i.sample_id}"] for i in annotated if any(o.category == 3 for o in i.targets.objects)}
    rare = [n for sid, n in variants.items() if sid in holding]
    others = [n for sid, n in variants.items() if sid not in holding]
    assert rare and min(rare) > 0 and np.mean(rare) > np.mean(others)  # the images holding the rare class first
    projected = report["objects"]["projected_objects_per_class"]
    assert max(projected.values()) / projected["triangle"] < max(counts.values()) / counts["triangle"]


def test_an_exif_turned_image_is_quarantined_not_misannotated(tmp_path, monkeypatch):
    from PIL import Image

    annotated = write_shapes(tmp_path / "raw", {"train": 3, "test": 2}, seed=8)
    turned = Path(annotated[0].path)
    with Image.open(turned) as opened:
        exif = opened.getexif()
        exif[0x0112] = 6  # rotate 90 degrees on display: 96x72 decodes as 72x96
        opened.save(turned, exif=exif)
    write_coco(annotated, CATEGORIES, tmp_path / "raw" / "annotations" / "instances.json")
    monkeypatch.chdir(tmp_path)
    frame, _ = image.read_raw(params_for(tmp_path / "raw"))
    bad = frame[frame["status"] != "ok"]
    assert bad["reason_code"].tolist() == ["image_size_mismatch"] and "EXIF" in bad["reason"].iat[0]
    assert bad["path"].iat[0] == f"images/{annotated[0].sample_id}"
