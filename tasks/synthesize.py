"""synthesize: new train samples from models trained on the train split.

Runs after bias, beside augment. Each method takes its share of every class's planned
new samples (data/interim/plan.json):
- a class-conditional generator (synthesize.generator: vae | gan) learns the train split
  and samples new ones; its weights file (data/interim/generator/) is a DVC output, so a
  dataset version pins the generator that made its samples;
- adversarial examples (synthesize.adversarial): train images perturbed within an
  L-infinity budget against a surrogate classifier trained on the train split;
- style transfer (synthesize.style): train images given a style image's statistics.

Every row has origin "synthetic", its class, its lineage in ``ops`` (method, the model's
sha256 and training run, epsilon, ...) and its sampling seed; validate applies the
quality gates (tasks/generative/gates.py). When synthesize.enabled is false the stage
writes empty outputs at once and never imports PyTorch.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.cache import CACHE_ROOT, code_version, key_of, library_versions
from augmill.tasks.generative import (
    GENERATOR_DIR,
    SYNTHESIZE_REPORT,
    SYNTHETIC_DIR,
    SYNTHETIC_GRID,
    SYNTHETIC_MANIFEST,
)
from augmill.tasks.generative.data import RealData, check_modality, encode_rows, read_real
from augmill.tasks.generative.encoding import ImageCodec
from augmill.tasks.io import read_json, safe_name, sha256_bytes, sha256_file, write_bytes_atomic, write_json, write_parquet
from augmill.tasks.params import Params
from augmill.tasks.seeding import generator, keyed_seed, synthesize_source_rank

LINEAGE_COLUMNS = ["sample_id", "source_id", "split", "label", "origin", "ops", "seed", "variant", "sha256"]
IMAGE_COLUMNS = ["path", "width", "height", "mode", "format"]
TIMINGS = CACHE_ROOT.parent / "runs" / "synthesize.json"  # wall-clock times: not an output (they differ per run)


def planned_counts(plan: dict, classes: list[str], params: Params) -> dict[str, dict[str, int]]:
    """method -> class -> how many: each method's share of the class's planned new samples,
    cut by cumulative rounding so the methods together never exceed the plan."""
    s = params.synthesize
    shares = [("generator", s.share if s.generator != "none" else 0.0), ("adversarial", s.adversarial.share),
              ("style", s.style.share)]
    counts: dict[str, dict[str, int]] = {method: {} for method, _ in shares}
    for label in classes:
        new = int(plan["classes"].get(label, {}).get("new", 0))
        cumulative, made = 0.0, 0
        for method, share in shares:
            cumulative += share
            upto = min(new, int(cumulative * new + 0.5 + 1e-9))  # half up: 0.5 x 5 new samples -> 3
            counts[method][label] = upto - made
            made = upto
    return counts


def pick_sources(group: pd.DataFrame, how_many: int, seed: int, tag: str) -> list[tuple[dict, int]]:
    """(source row, variant number) for how_many samples of one class: sources in a seeded,
    order-free sequence, cycled when a class needs more samples than it has sources."""
    order = sorted(group["sample_id"], key=lambda sid: (synthesize_source_rank(seed, tag, sid), sid))
    rows = group.set_index("sample_id", drop=False)
    return [(rows.loc[order[i % len(order)]].to_dict(), i // len(order)) for i in range(how_many)]


def _image_row(sample_id: str, source_id: str, label: str, ops: list[dict], seed, variant: int, image) -> dict:
    from augmill.tasks.imaging import encode_image

    data = encode_image(image, "PNG")
    relative = f"{safe_name(label)}/{sample_id}.png"
    write_bytes_atomic(SYNTHETIC_DIR / relative, data)
    return {"sample_id": sample_id, "source_id": source_id, "split": "train", "label": label, "origin": "synthetic",
            "ops": json.dumps(ops, sort_keys=True), "seed": seed, "variant": variant, "sha256": sha256_bytes(data),
            "path": relative, "width": image.width, "height": image.height, "mode": image.mode, "format": "PNG"}


def _training_run(*parts) -> str:
    """A training run's id: the hash of everything that decides the trained weights."""
    return key_of("training run", *parts, code_version("generative/*.py"), library_versions("torch", "numpy"))[:16]


def _data_identity(real: RealData) -> list:
    return real.train[["sample_id", "label", "sha256"]].astype(str).values.tolist()


# ---- generator --------------------------------------------------------------------


def generate(real: RealData, x: np.ndarray, counts: dict[str, int], params: Params, timings: dict) -> tuple[list, dict]:
    from augmill.tasks.generative import synthesizer
    from augmill.tasks.generative.nets import TrainConfig

    s = params.synthesize
    kind = s.generator
    config = TrainConfig(epochs=s.epochs or synthesizer.DEFAULT_EPOCHS[kind], time_budget_seconds=s.time_budget_seconds,
                         batch_size=s.batch_size, learning_rate=s.learning_rate or synthesizer.DEFAULT_LEARNING_RATE[kind],
                         latent_dim=s.latent_dim, hidden=s.hidden)
    seed = keyed_seed(params.seed, "train", kind)
    is_image = isinstance(real.codec, ImageCodec)
    run_id = _training_run(kind, config.epochs, config.batch_size, config.learning_rate, config.latent_dim, config.hidden,
                           seed, _data_identity(real), repr(real.codec.segments))
    started = time.perf_counter()
    model = synthesizer.fit(kind, x, real.class_index(real.train["label"].astype(str)), real.classes,
                            real.codec.segments, config, seed, image=is_image)
    timings["training_seconds"] = round(time.perf_counter() - started, 2)
    model_sha = model.save(GENERATOR_DIR / f"{kind}.pt")
    card = model.card() | {"model_file": f"{kind}.pt", "model_sha256": model_sha, "training_run": run_id, "seed": seed}
    if model.log.stopped_by_time_budget:
        print(f"synthesize: {kind} stopped by synthesize.time_budget_seconds after {model.log.epochs_run} of "
              f"{config.epochs} epochs; set synthesize.epochs: {model.log.epochs_run} to reproduce this model exactly")

    requests, meta = [], []
    for label in real.classes:
        for i in range(counts.get(label, 0)):
            requests.append((real.classes.index(label), keyed_seed(params.seed, "synthetic", f"{kind}:{label}", i)))
            meta.append((label, i))
    started = time.perf_counter()
    vectors = model.sample_many(requests)
    lineage = {"model_sha256": model_sha, "training_run": run_id, "latent_dim": config.latent_dim}
    rows = []
    if is_image:
        for (label, i), (_, seed_i), vector in zip(meta, requests, vectors, strict=True):
            ops = [{"name": kind, "params": lineage | {"class": label}}]
            rows.append(_image_row(f"syn-{kind}-{safe_name(label)}-{i:05d}", "", label, ops, seed_i, i,
                                   real.codec.decode(vector)))
        rows = pd.DataFrame(rows, columns=LINEAGE_COLUMNS + IMAGE_COLUMNS)
    else:
        # Category columns are drawn from the generated probabilities with each row's own generator.
        rngs = [generator(seed_i, "synthetic_draw") for _, seed_i in requests]
        values = real.codec.decode(vectors.reshape(len(requests), -1), rngs)
        lineage_rows = pd.DataFrame({
            "sample_id": [f"syn-{kind}-{safe_name(label)}-{i:05d}" for label, i in meta], "source_id": "",
            "split": "train", "label": [label for label, _ in meta], "origin": "synthetic",
            "ops": [json.dumps([{"name": kind, "params": lineage | {"class": label}}], sort_keys=True) for label, _ in meta],
            "seed": [seed_i for _, seed_i in requests], "variant": [i for _, i in meta],
            "sha256": real.codec.schema.row_hashes(values)}, columns=LINEAGE_COLUMNS)
        rows = pd.concat([lineage_rows, values.reset_index(drop=True)], axis=1)
    timings["sampling_seconds"] = round(time.perf_counter() - started, 2)
    timings["generated"] = len(rows)
    return rows, card


# ---- adversarial examples ------------------------------------------------------------


def _pixels(image, codec: ImageCodec) -> np.ndarray:
    array = np.asarray(image.convert(codec.mode), dtype=np.uint8)
    return array[None] if codec.mode == "L" else array.transpose(2, 0, 1)


def _image_from(pixels: np.ndarray, mode: str):
    from PIL import Image

    return Image.fromarray(pixels[0], "L") if mode == "L" else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")


def adversarial(real: RealData, x: np.ndarray, counts: dict[str, int], params: Params, timings: dict) -> tuple[list, dict]:
    from augmill.tasks.generative.adversarial import Attack, attack_many, train_surrogate
    from augmill.tasks.generative.nets import deterministic, save_weights, torch
    from augmill.tasks.imaging import load_image

    a = params.synthesize.adversarial
    codec: ImageCodec = real.codec
    seed = keyed_seed(params.seed, "train", "surrogate")
    run_id = _training_run("surrogate", a.surrogate, a.surrogate_epochs, seed, _data_identity(real), codec.mode,
                           codec.side)
    started = time.perf_counter()
    model, log = train_surrogate(x, real.class_index(real.train["label"].astype(str)), len(real.classes), codec.channels,
                                 codec.side, a.surrogate, a.surrogate_epochs, seed)
    sha = save_weights(model, GENERATOR_DIR / "surrogate.pt")
    held_out = real.raw[(real.raw["status"] == "ok") & (real.raw["split"] == "val") & real.raw["label"].isin(real.classes)]
    card = {"surrogate": a.surrogate, "model_file": "surrogate.pt", "model_sha256": sha, "training_run": run_id,
            "seed": seed, "classes": real.classes, "side": codec.side, "mode": codec.mode, "epochs": a.surrogate_epochs,
            "training": log.as_dict()}
    if len(held_out):
        vectors = encode_rows(held_out, codec, params)
        with deterministic(0), torch().no_grad():
            images = torch().from_numpy(vectors).view(-1, codec.channels, codec.side, codec.side)
            predicted = model(images).argmax(dim=1).numpy()
        card["val_accuracy"] = round(float(np.mean(predicted == real.class_index(held_out["label"].astype(str)))), 4)
    attack = Attack(a.method, a.epsilon, a.steps, a.step_size)
    raw_dir = Path(params.data.raw_dir)
    items, meta = [], []
    for label in real.classes:
        group = real.train[real.train["label"].astype(str) == label]
        for source, k in pick_sources(group, counts.get(label, 0), params.seed, a.method):
            image = load_image(raw_dir / source["path"], params.data.max_image_pixels).image
            seed_k = keyed_seed(params.seed, "synthetic_from_source", f"{a.method}:{source['sample_id']}", k)
            items.append((_pixels(image, codec), real.classes.index(label), seed_k))
            meta.append((source["sample_id"], label, k, seed_k))
    results = attack_many(model, items, attack)
    rows = []
    for (source_id, label, k, seed_k), (pixels, before, after) in zip(meta, results, strict=True):
        ops = [{"name": a.method, "params": attack.record() | {
            "surrogate": a.surrogate, "surrogate_sha256": sha, "training_run": run_id,
            "prediction_before": real.classes[before], "prediction_after": real.classes[after]}}]
        rows.append(_image_row(f"{source_id}-{a.method}{k:02d}", source_id, label, ops, seed_k, k,
                               _image_from(pixels, codec.mode)))
    rows = pd.DataFrame(rows, columns=LINEAGE_COLUMNS + IMAGE_COLUMNS)
    timings["adversarial_seconds"] = round(time.perf_counter() - started, 2)
    return rows, card


# ---- style transfer -----------------------------------------------------------------


def stylise(real: RealData, x: np.ndarray, counts: dict[str, int], params: Params, timings: dict) -> tuple[list, dict]:
    from augmill.tasks.generative import style
    from augmill.tasks.imaging import UnreadableImage, load_image

    st = params.synthesize.style
    style_path = Path(st.style_image)
    try:
        style_image = load_image(style_path, params.data.max_image_pixels).image
    except (OSError, UnreadableImage) as error:
        raise ValueError(f"synthesize.style.style_image: cannot read {style_path}: {error}") from None
    lineage = {"style_image": st.style_image, "style_sha256": sha256_file(style_path), "strength": st.strength}
    card: dict = {"method": st.method} | lineage
    started = time.perf_counter()
    model = None
    if st.method == "adain":
        model, card_extra = _adain_model(real, x, params)
        card |= card_extra
        lineage |= {"weights_sha256": card_extra["model_sha256"], "training_run": card_extra.get("training_run")}
    raw_dir = Path(params.data.raw_dir)
    rows = []
    name = f"style_{st.method}"
    for label in real.classes:
        group = real.train[real.train["label"].astype(str) == label]
        for source, k in pick_sources(group, counts.get(label, 0), params.seed, name):
            content = load_image(raw_dir / source["path"], params.data.max_image_pixels).image
            if model is None:
                image = style.statistics_transfer(content, style_image, st.strength)
            else:
                image = style.adain_transfer(model, content, style_image, real.codec.side, st.strength)
            rows.append(_image_row(f"{source['sample_id']}-style{k:02d}", source["sample_id"], label,
                                   [{"name": name, "params": lineage}], None, k, image))
    rows = pd.DataFrame(rows, columns=LINEAGE_COLUMNS + IMAGE_COLUMNS)
    timings["style_seconds"] = round(time.perf_counter() - started, 2)
    return rows, card


def _adain_model(real: RealData, x: np.ndarray, params: Params):
    from augmill.tasks.generative import style
    from augmill.tasks.generative.nets import load_weights, save_weights

    st = params.synthesize.style
    codec: ImageCodec = real.codec
    if st.weights:
        model = style.build_adain(codec.channels)
        try:
            sha = load_weights(model, Path(st.weights))
        except (OSError, RuntimeError, KeyError) as error:
            raise ValueError(f"synthesize.style.weights: {st.weights} is not a state dict of the AdaIN network in "
                             f"tasks/generative/style.py ({codec.channels} channel(s)): {error}") from None
        return model.eval(), {"weights": st.weights, "model_sha256": sha}
    seed = keyed_seed(params.seed, "train", "adain")
    run_id = _training_run("adain", st.epochs, seed, _data_identity(real), codec.mode, codec.side)
    model, log = style.train_adain(x, codec.channels, codec.side, st.epochs, seed)
    sha = save_weights(model, GENERATOR_DIR / "style_adain.pt")
    return model, {"weights": "trained", "model_file": "style_adain.pt", "model_sha256": sha, "training_run": run_id,
                   "seed": seed, "epochs": st.epochs, "training": log.as_dict()}


# ---- the stage ----------------------------------------------------------------------


def check_files(params: Params) -> None:
    """Files params name must exist before any training starts."""
    st = params.synthesize.style
    named = [("synthesize.style.style_image", st.style_image if st.share > 0 else None),
             ("synthesize.style.weights", st.weights if st.share > 0 and st.method == "adain" else None)]
    for key, name in named:
        if name and not Path(name).is_file():
            raise FileNotFoundError(f"{key}: {name} is not a file (paths are relative to the project root)")


def empty_manifest(modality: str) -> pd.DataFrame:
    frame = pd.DataFrame(columns=LINEAGE_COLUMNS + (IMAGE_COLUMNS if modality == "image" else []))
    return frame.astype({"seed": "Int64", "variant": "Int64"})


def run(params: Params) -> dict:
    for folder in (SYNTHETIC_DIR, GENERATOR_DIR):
        shutil.rmtree(folder, ignore_errors=True)  # nothing of an earlier run survives
        folder.mkdir(parents=True, exist_ok=True)
    s = params.synthesize
    if not s.enabled:
        write_parquet(empty_manifest(params.data.modality), SYNTHETIC_MANIFEST)
        write_json(GENERATOR_DIR / "card.json", {"enabled": False})
        report = {"enabled": False}
        write_json(SYNTHESIZE_REPORT, report)
        draw_grid(pd.DataFrame(), "synthesize.enabled is false: no synthetic samples")
        return report
    check_modality(params)
    check_files(params)
    real = read_real(params)
    counts = planned_counts(read_json(paths.PLAN), real.classes, params)
    x = encode_rows(real.train, real.codec, params)
    timings: dict = {}
    frames, cards = [], {}
    steps = (("generator", generate), ("adversarial", adversarial), ("style", stylise))
    for method, make in steps:
        if sum(counts[method].values()) > 0:
            made, cards[method] = make(real, x, counts[method], params, timings)
            frames.append(made)
    frame = pd.concat(frames, ignore_index=True) if frames else empty_manifest(params.data.modality)
    frame = frame.astype({"seed": "Int64", "variant": "Int64"}).sort_values("sample_id").reset_index(drop=True)
    write_parquet(frame, SYNTHETIC_MANIFEST)
    write_json(GENERATOR_DIR / "card.json", {"enabled": True} | cards)
    report = {"enabled": True, "modality": params.data.modality, "planned": counts,
              "made": {method: int(sum(counts[method].values())) for method, _ in steps}, "models": cards}
    adversarial_rows = [json.loads(ops)[0]["params"] for ops in frame["ops"]
                        if json.loads(ops)[0]["name"] in ("fgsm", "pgd")]
    if adversarial_rows:
        flipped = sum(p["prediction_before"] != p["prediction_after"] for p in adversarial_rows)
        report["adversarial"] = {"examples": len(adversarial_rows), "flipped_surrogate_prediction": flipped,
                                 "flip_rate": round(flipped / len(adversarial_rows), 4)}
    write_json(SYNTHESIZE_REPORT, report)
    draw_grid(frame, f"synthetic samples ({len(frame)})")
    write_json(TIMINGS, timings)
    print("synthesize: " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    return report


def draw_grid(frame: pd.DataFrame, title: str, per_class: int = 10, tile: int = 48) -> None:
    """Up to per_class synthetic images of each class and method, one row each, for a person to look at."""
    from PIL import Image, ImageDraw

    from augmill.tasks.imaging import encode_image

    groups = []
    if len(frame) and "path" in frame:
        methods = frame["ops"].map(lambda ops: json.loads(ops)[0]["name"])
        for (label, method), group in frame.assign(method=methods).groupby(["label", "method"], sort=True):
            groups.append((f"{label} {method}", group.sort_values("sample_id")["path"].head(per_class).tolist()))
    label_width = 120
    canvas = Image.new("RGB", (label_width + per_class * tile, 20 + max(len(groups), 1) * tile), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), title, fill="black")
    for row, (name, files) in enumerate(groups):
        top = 20 + row * tile
        draw.text((4, top + tile // 2 - 6), name[:20], fill="black")
        for column, relative in enumerate(files):
            with Image.open(SYNTHETIC_DIR / relative) as image:
                thumb = image.convert("RGB").resize((tile - 4, tile - 4), Image.Resampling.NEAREST)
            canvas.paste(thumb, (label_width + column * tile + 2, top + 2))
    write_bytes_atomic(SYNTHETIC_GRID, encode_image(canvas, "PNG"))
