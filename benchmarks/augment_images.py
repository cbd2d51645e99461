"""Image augment-stage benchmark: prints, in one run on one machine,

- images/s of augmill's augment stage for a standard policy (flip, rotation, random
  resized crop, colour jitter, Gaussian noise) on N generated 256x256 JPEGs, beside a
  minimal hand-written Pillow/numpy loop (OpenCV for rotation and resize, as augmill) doing the
  same operations with the same decode and encode (the floor for this design), and
  beside albumentations 2.0.8 (OpenCV decode/encode) when it is installed, all writing JPEG;
- the speed-up of the augment stage from 1 to 2 workers;
- peak memory (max RSS) of the augment stage at N and at 10 x N images;
- the fixed orchestration overhead of `augmill run` (Prefect, DVC) on a handful of images: its
  wall time minus that of the same stages called in one plain Python process, with augmill's
  temporary Prefect server and with a Prefect server already running;
- the time of an incremental run after adding 1 % new images, as a share of a full one:
  `augmill run` at N and at 10 x N images (fixed costs weigh less on a larger dataset),
  `dvc repro` at N.

Run by hand, from the project root, on an otherwise idle machine:

    .venv/bin/python benchmarks/augment_images.py            # N = 2000 (and 20000: memory, incremental)
    .venv/bin/python benchmarks/augment_images.py --n 200 --skip-large   # a quick look
    .venv/bin/python benchmarks/augment_images.py --overhead-only        # the fixed overhead alone
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from statistics import median

import numpy as np
import yaml
from PIL import Image, ImageEnhance

from augmill.flows.prefect_api import _free_port
from augmill.tasks.modalities.image.ops import gaussian_noise, hue_matrix

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POLICY = [
    {"name": "hflip", "p": 0.5},
    {"name": "rotate", "p": 1.0, "angle": [-15, 15]},
    {"name": "random_resized_crop", "p": 1.0, "scale": [0.8, 1.0], "ratio": [0.75, 1.3333]},
    {"name": "brightness", "p": 1.0, "factor": [0.8, 1.2]},
    {"name": "contrast", "p": 1.0, "factor": [0.8, 1.2]},
    {"name": "saturation", "p": 1.0, "factor": [0.8, 1.2]},
    {"name": "hue", "p": 1.0, "shift": [-0.05, 0.05]},
    {"name": "gaussian_noise", "p": 1.0, "sigma": [5.0, 10.0]},
]
LABELS = ("a", "b", "c", "d")


def make_jpegs(folder: Path, count: int, start: int = 0) -> None:
    """Smooth random colour fields with shapes: JPEG-friendly, all different."""
    for index in range(start, start + count):
        rng = np.random.default_rng(index)
        y, x = np.mgrid[0:256, 0:256] / 255.0
        channels = [np.sin(x * rng.uniform(2, 9) + rng.uniform(0, 6)) * np.cos(y * rng.uniform(2, 9)) for _ in range(3)]
        pixels = ((np.stack(channels, axis=-1) + 1) * 127.5).astype(np.uint8)
        target = folder / LABELS[index % len(LABELS)] / f"img{index:06d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGB").save(target, "JPEG", quality=95)


def environment() -> dict:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    return env


def sh(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env={**environment(), **env}, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def new_project(root: Path, images: int, workers: int = 1, cache: bool = False, mostly_train: bool = True) -> Path:
    root.mkdir(parents=True)
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    for folder in ("tasks", "flows", "expectations", "reviews"):  # flows: dvc.yaml's code deps name flows/stages.py
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["raw_dir"] = "data/user"
    if mostly_train:  # throughput: nearly every image is a train source
        params["data"]["split"] = {"train": 0.98, "val": 0.01, "test": 0.01}
    params["prepare"]["dataset"] = "none"
    # "report": every train image gets exactly one variant, so variants = train images.
    params["bias"]["policy"] = "report"
    params["augment"].update(factor=2.0, policy=POLICY, image_format="keep", jpeg_quality=95)
    params["execution"].update(workers=workers, cache=cache, shard_size=64)
    params["validate"].update(max_rejection_rate=1.0)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    make_jpegs(root / "data/user", images)
    sh(["git", "init", "-q"], root)
    sh(["dvc", "init", "-q"], root)
    return root


def time_augment_stage(project: Path) -> tuple[float, int]:
    """Wall time of `augmill stage augment` minus the same process doing nothing (its imports)."""
    started = time.perf_counter()
    sh(["augmill", "stage", "augment"], project)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    sh(["augmill", "check"], project)
    baseline = time.perf_counter() - started
    variants = len(list((project / "data/interim/augmented").rglob("*.jpg")))
    return elapsed - baseline, variants


def hand_loop(sources: list[Path], out: Path) -> float:
    """The same operations written directly: decode, flip/rotate/crop, colour jitter, noise, encode."""
    import cv2  # rotation and crop resize, as in augmill
    started = time.perf_counter()
    for index, path in enumerate(sources):
        rng = np.random.default_rng(index)
        image = Image.open(path).convert("RGB")
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        w, h = image.size
        # Rotation as augmill does it: OpenCV's bilinear warpAffine about the centre, black corners.
        matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rng.uniform(-15, 15), 1.0)
        image = Image.fromarray(cv2.warpAffine(np.asarray(image), matrix, (w, h), flags=cv2.INTER_LINEAR,
                                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)))
        area = w * h * rng.uniform(0.8, 1.0)
        ratio = np.exp(rng.uniform(np.log(0.75), np.log(1.3333)))
        cw, ch = min(w, int(round(np.sqrt(area * ratio)))), min(h, int(round(np.sqrt(area / ratio))))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = np.asarray(image)[top:top + ch, left:left + cw]  # resized back with OpenCV, as augmill
        image = Image.fromarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR))
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            image = enhancer(image).enhance(rng.uniform(0.8, 1.2))
        image = image.convert("RGB", hue_matrix(rng.uniform(-0.05, 0.05)))  # augmill's hue: one colour matrix
        # augmill's noise function itself (16-bit uniforms through a normal-quantile table): the loop
        # measures what the framework adds around the operations, not two ways of drawing noise.
        image = Image.fromarray(gaussian_noise(np.asarray(image), rng.uniform(5, 10), np.random.default_rng(index + 1)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=95)
        (out / f"{index}.jpg").write_bytes(buffer.getvalue())
    return time.perf_counter() - started


def standard_policy_in_albumentations(A, cv2):
    """POLICY with albumentations (also benchmarks/image_operators.py's standard-policy row)."""
    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.Rotate(limit=15, p=1.0, border_mode=cv2.BORDER_CONSTANT),
        A.RandomResizedCrop(size=(256, 256), scale=(0.8, 1.0), ratio=(0.75, 1.3333), p=1.0),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05, p=1.0),
        A.GaussNoise(std_range=(5 / 255, 10 / 255), p=1.0),
    ], seed=0)


def albumentations_loop(sources: list[Path], out: Path) -> float | None:
    try:
        import albumentations as A
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(1)  # one worker, as for the others
    transform = standard_policy_in_albumentations(A, cv2)
    started = time.perf_counter()
    for index, path in enumerate(sources):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        result = transform(image=image)["image"]
        cv2.imwrite(str(out / f"{index}.jpg"), result, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return time.perf_counter() - started


@contextmanager
def running_prefect_server():
    """`prefect server start` on a free loopback port, as a user keeps one running; yields its API URL."""
    port = _free_port()
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("prefect server start did not come up") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


PLAIN_RUN = ("from pathlib import Path; from augmill.flows.stages import STAGE_NAMES, run_stage; "
             "from augmill.tasks.params_load import load_params; params = load_params(Path('params.yaml'), []); "
             "[run_stage(name, params) for name in STAGE_NAMES]")


def run_overhead(projects: list[Path], *command: str, **env: str) -> dict:
    """Wall time of `augmill COMMAND`; that minus the wall time of the same stages called one after
    the other in one plain Python process (no Prefect, no DVC) on a copy of the project as it was:
    what orchestration adds (server, flow and task runs, dvc status and dvc.lock), the overhead
    figure; and, for comparison with earlier figures, the wall time minus the stages' own times as
    `augmill run` reports them (this counts a stage's imports done while the server starts as overhead).
    Once per project (the same project again for a forced run), medians: single runs vary by seconds here."""
    walls, plains, overheads, outside_stages = [], [], [], []
    for project in projects:
        plain = project.parent / f"{project.name}-plain"
        shutil.copytree(project, plain)
        started = time.perf_counter()
        sh([sys.executable, "-c", PLAIN_RUN], plain)
        plains.append(time.perf_counter() - started)
        shutil.rmtree(plain)
        started = time.perf_counter()
        output = sh(["augmill", *command], project, **env).stdout
        walls.append(time.perf_counter() - started)
        line = next(text for text in output.splitlines() if "pipeline finished in" in text)
        stage_seconds = sum(float(part.split("ran in ")[1].rstrip("s"))
                            for part in line.split(": ", 1)[1].split(", ") if "ran in " in part)
        overheads.append(walls[-1] - plains[-1])
        outside_stages.append(walls[-1] - stage_seconds)
    return {"wall_s": round(median(walls), 1), "plain_wall_s": round(median(plains), 1),
            "overhead_s": round(median(overheads), 1), "overhead_each_s": [round(o, 1) for o in overheads],
            "wall_minus_stage_times_s": round(median(outside_stages), 1)}


def overhead_figures(root: Path, repeats: int = 3) -> dict:
    """The fixed overhead on 40 images (a handful per class and split), with augmill's temporary
    Prefect server (the first run of new projects: every stage stale, DVC's cache made, the
    conservative case) and with a Prefect server already running; and a run with nothing to do."""
    projects = [new_project(root / f"tiny{index}", 40, mostly_train=False) for index in range(repeats)]
    figures = {"fixed_overhead_40_images": run_overhead(projects, "run")}
    with running_prefect_server() as url:
        sh(["augmill", "run", "--force"], projects[0], PREFECT_API_URL=url)  # the server's first flow run
        figures["fixed_overhead_40_images_running_server"] = run_overhead(projects[:1] * repeats, "run", "--force",
                                                                         PREFECT_API_URL=url)
    started = time.perf_counter()
    sh(["augmill", "run"], projects[0])
    figures["augmill_run_wall_s_nothing_to_do"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    sh(["augmill", "check"], projects[0])
    figures["cli_start_s"] = round(time.perf_counter() - started, 1)
    return figures


def incremental_share(root: Path, images: int, command: tuple[str, ...]) -> dict:
    """A full run of ``command`` with the memo on, then 1 % new images and the same command again."""
    project = new_project(root, images, workers=1, cache=True, mostly_train=False)
    started = time.perf_counter()
    sh(list(command), project)
    full = time.perf_counter() - started
    make_jpegs(project / "data/user", max(1, images // 100), start=images)
    started = time.perf_counter()
    sh(list(command), project)
    incremental = time.perf_counter() - started
    shutil.rmtree(project)
    name = "_".join(command)
    return {f"{name}_full_s_{images}": round(full, 1), f"{name}_incremental_s_{images}_plus_1pct": round(incremental, 1),
            f"{name}_incremental_share_of_full_{images}": round(incremental / full, 3)}


def peak_memory_mb(project: Path) -> float:
    """Max RSS of a one-worker `augmill stage augment` process (Linux reports KiB)."""
    script = ("import resource, subprocess, sys; subprocess.run(['augmill', 'stage', 'augment'], check=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = sh([sys.executable, "-c", script], project)
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="images for the throughput figures")
    parser.add_argument("--skip-large", action="store_true", help="skip the 10 x N memory and incremental runs")
    parser.add_argument("--overhead-only", action="store_true", help="only the fixed-overhead figures (~4 min)")
    args = parser.parse_args()
    figures: dict[str, object] = {"images": args.n, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="augmill-bench-") as tmp:
        tmp = Path(tmp)
        if args.overhead_only:
            print(json.dumps(overhead_figures(tmp), indent=2))
            return
        print(f"generating {args.n} 256x256 JPEGs and preparing projects ...", flush=True)
        one = new_project(tmp / "one", args.n, workers=1)
        sh(["augmill", "stage", "explore"], one)
        sh(["augmill", "stage", "bias"], one)
        seconds, variants = time_augment_stage(one)
        figures["augmill_1_worker_images_per_s"] = round(variants / seconds, 1)

        two = tmp / "two"
        shutil.copytree(one, two)
        params = yaml.safe_load((two / "params.yaml").read_text())
        params["execution"]["workers"] = 2
        (two / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        seconds2, variants2 = time_augment_stage(two)
        figures["augmill_2_workers_images_per_s"] = round(variants2 / seconds2, 1)
        figures["speedup_1_to_2_workers"] = round(seconds / seconds2, 2)

        sources = sorted((one / "data/user").rglob("*.jpg"))[:variants]
        (tmp / "hand").mkdir()
        figures["hand_loop_images_per_s"] = round(len(sources) / hand_loop(sources, tmp / "hand"), 1)
        (tmp / "alb").mkdir()
        album = albumentations_loop(sources, tmp / "alb")
        figures["albumentations_images_per_s"] = round(len(sources) / album, 1) if album else "not installed"
        figures["augmill_vs_hand_loop"] = round(figures["augmill_1_worker_images_per_s"] / figures["hand_loop_images_per_s"], 2)
        if album:
            figures["augmill_vs_albumentations"] = round(figures["augmill_1_worker_images_per_s"]
                                                         / figures["albumentations_images_per_s"], 2)

        figures[f"peak_memory_mb_at_{args.n}"] = round(peak_memory_mb(one), 1)
        if not args.skip_large:
            print(f"generating {10 * args.n} JPEGs for the memory figure ...", flush=True)
            big = new_project(tmp / "big", 10 * args.n, workers=1)
            sh(["augmill", "stage", "explore"], big)
            sh(["augmill", "stage", "bias"], big)
            figures[f"peak_memory_mb_at_{10 * args.n}"] = round(peak_memory_mb(big), 1)
            shutil.rmtree(big)

        print("fixed overhead and incremental runs ...", flush=True)
        figures.update(overhead_figures(tmp / "overhead"))

        # `augmill run` (the main command, and what a scheduled deployment runs) and `dvc repro`
        # (a process per stage, and DVC copies each output back from its cache after the stage).
        figures.update(incremental_share(tmp / "incremental", args.n, ("augmill", "run")))
        figures.update(incremental_share(tmp / "incremental_dvc", args.n, ("dvc", "repro")))
        if not args.skip_large:
            print(f"incremental run at {10 * args.n} images ...", flush=True)
            figures.update(incremental_share(tmp / "incremental_large", 10 * args.n, ("augmill", "run")))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
