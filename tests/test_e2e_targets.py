"""Images with boxes and masks (data.targets) end to end: the generated shapes dataset written as
COCO, YOLO, VOC or mask folders, `augmill init` then `augmill run` through the real CLI (git, DVC, Prefect, GX), and
data/final read back by the same format's reader with every invariant holding."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from augmill.tasks.modalities.image.annotated_final import IMAGE_ROOTS, read_final
from augmill.tasks.modalities.image.coco import write_coco
from augmill.tasks.modalities.image.masks import mask_of_objects, write_masks
from augmill.tasks.modalities.image.ops_targets import TargetRules, box_of_mask, box_of_rings, replay_targets
from augmill.tasks.modalities.image.shapes import CATEGORIES, write_shapes
from augmill.tasks.modalities.image.voc import write_voc
from augmill.tasks.modalities.image.yolo import write_yolo
from tests.project import REPO, file_hashes, run

pytestmark = pytest.mark.e2e


def shapes(root: Path, layout: str) -> None:
    annotated = write_shapes(root, {"train": 16, "val": 5, "test": 6}, seed=7)
    if layout == "coco":
        write_coco(annotated, CATEGORIES, root / "annotations" / "instances.json")
    elif layout == "yolo":
        write_yolo(annotated, CATEGORIES, root)
    elif layout == "masks":  # images/<split>/ and masks/<split>/, classes.txt (0: background)
        write_masks(annotated, {0: "background"} | CATEGORIES, root, root / "images")
    else:  # VOC: one flat JPEGImages/ folder, split lists in ImageSets/Main/; classes named in the XML
        (root / "JPEGImages").mkdir()
        moved = [replace(image, path=str(Path(image.path).rename(root / "JPEGImages" / Path(image.path).name)))
                 for image in annotated]
        shutil.rmtree(root / "images")
        write_voc(moved, CATEGORIES, root)


def init_and_run(project: Path) -> dict:
    made = run(["augmill", "init"], project)
    assert "next: augmill run" in made.stdout, made.stdout
    ran = run(["augmill", "run"], project, timeout=900)
    assert "pipeline finished" in ran.stdout
    return yaml.safe_load((project / "params.yaml").read_text())


def per_class(objects: pd.DataFrame) -> dict[str, int]:
    return objects["class_name"].value_counts().to_dict()


def check_final(project: Path, layout: str) -> None:
    final = project / "data" / "final"
    read = read_final(final, layout)
    named = set(CATEGORIES.values()) | ({"background"} if layout == "masks" else set())
    assert read.problems == [] and set(read.categories.values()) == named
    manifest = pd.read_parquet(final / "manifest.parquet")
    objects = pd.read_parquet(final / "objects.parquet")
    # Every image of the manifest is in the annotation files and every object in the per-object table.
    assert len(read.images) == len(manifest)
    assert sum(len(image.targets.objects) for image in read.images) == len(objects)
    assert objects["object_id"].is_unique and objects["source_object_id"].notna().all()
    for image in read.images:
        width, height = image.targets.width, image.targets.height
        for obj in image.targets.objects:
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            if obj.mask is not None:  # COCO and masks keep the masks: the box is the mask's, exactly
                assert obj.box == box_of_mask(obj.mask)
            elif obj.polygon:  # YOLO keeps polygons, written to a millionth of the side
                assert np.allclose(obj.box, box_of_rings(obj.polygon), atol=0.01 * max(width, height) + 1)
    # Count = source - recorded drops, and replay gives the variant's boxes again.
    root = final / IMAGE_ROOTS[layout]
    by_sample = {Path(image.path).relative_to(root).as_posix(): image for image in read.images}
    paths = dict(zip(manifest["sample_id"], manifest["path"].str.removeprefix(IMAGE_ROOTS[layout] + "/"), strict=True))
    variants = manifest[manifest["origin"] == "augmented"]
    assert len(variants) > 0
    rules = yaml.safe_load((project / "params.yaml").read_text())["augment"]
    for row in variants.itertuples():
        records = json.loads(row.ops)
        source, variant = by_sample[paths[row.source_id]], by_sample[paths[row.sample_id]]
        dropped = sum(len(record["dropped"]) for record in records)
        assert len(variant.targets.objects) == len(source.targets.objects) - dropped
        again, _ = replay_targets(source.targets, records, TargetRules(rules["min_visibility"], rules["min_area"]))
        # VOC writes whole pixels (the box grown out to the pixels it touches): within one of the replay.
        assert np.allclose([o.box for o in again.objects], [o.box for o in variant.targets.objects],
                           atol=1.0 if layout == "voc" else 1e-4)
    # The rare class (triangles) gained more than the common ones: the plan counted objects.
    train = objects[objects["sample_id"].isin(set(paths[s] for s in manifest.loc[manifest["split"] == "train", "sample_id"]))]
    before, after = per_class(train[train["origin"] == "original"]), per_class(train)
    assert max(before.values()) / before["triangle"] > max(after.values()) / after["triangle"]
    bias = json.loads((project / "reports" / "bias.json").read_text())
    assert bias["objects"]["objects_per_class"] == before
    explore = json.loads((project / "reports" / "explore.json").read_text())
    assert explore["dataset"]["objects"]["train"]["objects_per_class"] == before
    validation = json.loads((project / "reports" / "validation.json").read_text())
    assert all(suite["success"] for suite in validation["targets"]["suites"].values())
    # evaluate's proxy scores an object-crop classifier on every test object.
    evaluate = json.loads((project / "reports" / "evaluate.json").read_text())
    test_images = set(paths[s] for s in manifest.loc[manifest["split"] == "test", "sample_id"])
    assert evaluate["setup"]["test_rows"] == int(objects["sample_id"].isin(test_images).sum())
    assert evaluate["setup"]["features"].startswith("object classification")


def test_coco_project_runs_end_to_end_and_writes_coco(tmp_path):
    shapes(tmp_path, "coco")
    params = init_and_run(tmp_path)
    assert params["data"]["targets"] == "coco"
    check_final(tmp_path, "coco")
    # Annotation ids never collide across the split files.
    ids = [a["id"] for f in sorted((tmp_path / "data/final/annotations").glob("*.json"))
           for a in json.loads(f.read_text())["annotations"]]
    assert len(ids) == len(set(ids))
    # objects.parquet keeps COCO's integer ids: the very ids of the files, sources' ids among them.
    objects = pd.read_parquet(tmp_path / "data/final/objects.parquet")
    assert objects["object_id"].dtype == "int64" and objects["source_object_id"].dtype == "int64"
    assert sorted(objects["object_id"]) == sorted(ids)
    assert set(objects["source_object_id"]) <= set(objects.loc[objects["origin"] == "original", "object_id"])


def test_yolo_project_runs_end_to_end_and_writes_yolo(tmp_path):
    shapes(tmp_path, "yolo")
    params = init_and_run(tmp_path)
    assert params["data"]["targets"] == "yolo"
    check_final(tmp_path, "yolo")


def test_voc_project_runs_end_to_end_and_writes_voc(tmp_path):
    shapes(tmp_path, "voc")
    params = init_and_run(tmp_path)
    assert params["data"]["targets"] == "voc"
    check_final(tmp_path, "voc")
    assert sorted(p.name for p in (tmp_path / "data/final/ImageSets/Main").iterdir()) == ["test.txt", "train.txt",
                                                                                         "val.txt"]


def test_mask_folders_project_runs_end_to_end_and_writes_mask_folders(tmp_path):
    shapes(tmp_path, "masks")
    params = init_and_run(tmp_path)
    assert params["data"]["targets"] == "masks"
    check_final(tmp_path, "masks")
    final = tmp_path / "data" / "final"
    assert (final / "classes.txt").read_text() == "background\nrectangle\nellipse\ntriangle\n"
    # Every image has its mask of the same stem and size, and a variant's mask is its replayed source's.
    manifest = pd.read_parquet(final / "manifest.parquet")
    read = {image.sample_id: image for image in read_final(final, "masks").images}
    assert len(read) == len(manifest)
    for image in read.values():
        mask = final / "masks" / Path(image.sample_id).with_suffix(".png")
        assert mask.is_file() and image.targets.semantic.shape == (image.targets.height, image.targets.width)
    key = dict(zip(manifest["sample_id"], manifest["path"].str.removeprefix("images/"), strict=True))
    rules = TargetRules(params["augment"]["min_visibility"], params["augment"]["min_area"])
    for row in manifest[manifest["origin"] == "augmented"].itertuples():
        again, _ = replay_targets(read[key[row.source_id]].targets, json.loads(row.ops), rules)
        np.testing.assert_array_equal(mask_of_objects(again), read[key[row.sample_id]].targets.semantic)


def stage_project(root: Path, workers: int, layout: str = "coco") -> Path:
    """The shapes dataset in ``layout`` and a params.yaml for it, run stage by stage (`augmill stage`)."""
    shapes(root / "data" / "input", layout)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(raw_dir="data/input", targets=layout)
    params["prepare"]["dataset"] = "none"
    params["execution"].update(workers=workers, shard_size=2, cache=False)
    if layout == "masks":  # small crops that must keep the plan's class (random_resized_crop keep_objects)
        params["augment"]["policy"] = [{"name": "hflip", "p": 0.5}, {"name": "random_resized_crop", "p": 1.0,
                                                                    "scale": [0.45, 0.6], "keep_objects": True}]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for folder in ("expectations", "reviews"):
        shutil.copytree(REPO / folder, root / folder)
    for stage in ("explore", "bias", "augment", "validate", "merge"):
        run(["augmill", "stage", stage], root)
    return root


@pytest.mark.parametrize(("layout", "written"), [("coco", "annotations/instances_train.json"), ("masks", "classes.txt")])
def test_targets_are_byte_identical_for_any_worker_count(tmp_path, layout, written):
    one, two = stage_project(tmp_path / "one", 1, layout), stage_project(tmp_path / "two", 2, layout)
    final = file_hashes(one / "data" / "final")
    assert final == file_hashes(two / "data" / "final")
    assert {written, "objects.parquet"} <= set(final)
    if layout != "masks":
        return
    assert sum(name.startswith("masks/train/") for name in final) > 16  # originals + variants
    keep = json.loads((one / "data/interim/plan.json").read_text())["keep_class_per_source"]
    variants = pd.read_parquet(one / "data/interim/augmented.parquet")
    assert len(variants) > 0
    for row in variants.itertuples():
        crop = next(r for r in json.loads(row.ops) if r["name"] == "random_resized_crop")
        assert crop["params"]["keep_class"] == keep[row.source_id]
        assert keep[row.source_id] in {o["category_id"] for o in json.loads(row.targets)["objects"]}
    augmented = [pd.read_parquet(p / "data/interim/augmented.parquet")[["sample_id", "ops", "targets"]] for p in (one, two)]
    pd.testing.assert_frame_equal(*augmented)
