"""Same bytes on any x86-64 CPU: "another machine" simulated on this one.

1. The demo runs twice in fresh projects: natively, and with every CPU-specific path we
   can switch off limited to a lower level (numpy's dispatched SIMD targets, OpenCV's
   dispatched features, libjpeg-turbo's SIMD in Pillow). The dvc.lock output hashes must be
   identical. A probe run with the same environment checks that each limit really took
   effect, and that augmill's own pin of the OpenBLAS kernels (flows/stages.py) holds
   whatever the environment asks for.
2. What environment variables cannot reach (a library's own CPU detection, e.g. in the
   PNG encoder's deflate): the augment operators, the PNG and JPEG encoders and decoders
   and the measurements run under `qemu-x86_64 -cpu Nehalem` (SSE4.2, no AVX), an older
   CPU model emulated for real, and must give the bytes they give natively.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from augmill.flows.stages import OPENBLAS_KERNELS
from tests.project import REPO, environment, lock_out_hashes, new_project

pytestmark = pytest.mark.e2e

OLDER_CPU = "Nehalem"  # numpy's baseline (x86-64-v2: SSE4.2, POPCNT): the oldest CPU numpy 2.x runs on

PROBE = r"""
import json, re
import augmill.flows.stages  # first, as `augmill` imports it: it pins OpenBLAS's kernels before numpy loads
import threadpoolctl
import cv2, numpy, scipy.linalg
from numpy._core import _multiarray_umath as umath
from PIL import Image
Image.new("RGB", (8, 8)).save(__import__("io").BytesIO(), "JPEG")  # loads libjpeg
jpeg = [line.split()[-1] for line in open("/proc/self/maps") if re.search(r"/libjpeg[^/]*\.so", line)]
print(json.dumps({
    "numpy_dispatch": {name: bool(umath.__cpu_features__.get(name)) for name in umath.__cpu_dispatch__},
    "opencv": cv2.getCPUFeaturesLine().split(),
    "openblas": sorted({i["architecture"] for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"}),
    "libjpeg": sorted(set(jpeg)),
}))
"""


def probe(env: dict) -> dict:
    env = env | {"PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def lower_cpu_environment(native: dict) -> dict:
    """The environment that turns off every dispatched SIMD path this CPU has."""
    numpy_on = [name for name, on in native["numpy_dispatch"].items() if on]
    # OpenCV marks dispatched features with "*", and those unavailable (or disabled) with a trailing "?".
    opencv_on = [token.lstrip("*") for token in native["opencv"] if token.startswith("*") and not token.endswith("?")]
    if not numpy_on and not opencv_on:
        pytest.skip("this CPU has no SIMD paths above numpy's and OpenCV's baselines to turn off")
    # OPENBLAS_CORETYPE: what another machine's OpenBLAS would pick; augmill overrides it.
    return environment() | {"NPY_DISABLE_CPU_FEATURES": " ".join(numpy_on), "OPENCV_CPU_DISABLE": ",".join(opencv_on),
                            "JSIMD_FORCENONE": "1", "OPENBLAS_CORETYPE": "Haswell"}


def repro(root: Path, env: dict) -> None:
    result = subprocess.run(["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_demo_makes_the_same_bytes_with_the_cpu_specific_paths_turned_off(tmp_path):
    native = probe(environment())
    env = lower_cpu_environment(native)

    limited = probe(env)
    assert not any(limited["numpy_dispatch"].values()), limited["numpy_dispatch"]
    assert all(token.endswith("?") for token in limited["opencv"] if token.startswith("*")), limited["opencv"]
    assert native["openblas"] == limited["openblas"] == [OPENBLAS_KERNELS], (native["openblas"], limited["openblas"])
    # libjpeg-turbo reads JSIMD_FORCENONE when it starts (simd/x86_64/jsimd.c): the library loaded must have it.
    assert limited["libjpeg"] and all(b"JSIMD_FORCENONE" in Path(path).read_bytes() for path in limited["libjpeg"])

    here = new_project(tmp_path / "native")
    there = new_project(tmp_path / "older_cpu")
    repro(here, environment())
    repro(there, env)
    assert lock_out_hashes(there) == lock_out_hashes(here)


# Augment's image operators (the demo's policy, then every operator alone), both encoders, the decoder and the measurements
# explore and validate take, over images bundled with scikit-learn; prints one digest.
WORKLOAD = r"""
import augmill.flows.stages  # first, as `augmill` imports it (it pins OpenBLAS's kernels)
import hashlib, io, sys
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits, load_sample_image
from augmill.tasks.imaging import encode_image, load_image, perceptual_hash, pixel_stats, similarity
from augmill.tasks.ops.policy import build_policy, operators_for, run_policy, sample_seed
from augmill.tasks.params_load import load_params
from pathlib import Path

params = load_params(Path(sys.argv[1]), [])
policy = build_policy(params.augment.policy, "image")
sources = [Image.fromarray((d * 15).astype("uint8"), "L").resize((32, 32), Image.Resampling.NEAREST)
           for d in load_digits().images[:16]]
sources += [Image.fromarray(load_sample_image(name)[100:228, 150:278]) for name in ("china.jpg", "flower.jpg")]
digest = hashlib.sha256()
for index, source in enumerate(sources):
    for variant in range(3):
        image, records = run_policy(policy, np.random.default_rng(sample_seed(7, f"s{index}", variant)), source)
        for image_format in ("PNG", "JPEG"):
            data = encode_image(image, image_format, 90)
            digest.update(data)
            path = Path(sys.argv[2]) / f"x.{image_format.lower()}"
            path.write_bytes(data)
            decoded = load_image(path, 10**8).image
            digest.update(decoded.tobytes())
            digest.update(repr((perceptual_hash(decoded), pixel_stats(decoded), similarity(source, decoded))).encode())
# Every image operator, not only the demo's: each alone (p=1), then as RandAugment draws them.
for name in sorted(operators_for("image")):
    ops = build_policy([{"name": name, "p": 1.0}], "image")
    for index, source in enumerate(sources):
        image, records = run_policy(ops, np.random.default_rng(sample_seed(11, f"{name}{index}", 0)), source)
        digest.update(np.asarray(image).tobytes())
preset = build_policy({"preset": "randaugment", "n": 2, "m": 9}, "image")
for index, source in enumerate(sources):
    digest.update(np.asarray(run_policy(preset, np.random.default_rng(index), source)[0]).tobytes())
print(digest.hexdigest())
from numpy._core import _multiarray_umath as umath
print("AVX2" if umath.__cpu_features__["AVX2"] else "no AVX2")
"""


def test_augment_ops_and_encoders_give_the_same_bytes_on_an_older_cpu_model(tmp_path):
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-x86_64 is not installed (Debian: apt-get install qemu-user): no older CPU to emulate")
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    env = environment() | {"PYTHONPATH": str(REPO)}
    args = [str(script), str(REPO / "params.yaml"), str(tmp_path)]
    native = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=True)
    older = subprocess.run([qemu, "-cpu", OLDER_CPU, sys.executable, *args], env=env, capture_output=True, text=True,
                           timeout=900)
    assert older.returncode == 0, older.stderr
    digest, simd = older.stdout.split()[0], older.stdout.split("\n")[1]
    assert simd == "no AVX2"  # the emulated CPU really is older: numpy, running on it, finds no AVX2
    assert digest == native.stdout.split()[0]


# The warps at the sizes where OpenCV's SIMD loops take over (a float-map remap gave other bytes with them off at
# 256x256 and 512x384, none at the small sizes above): each warp of photo crops, one digest.
WARPS = r"""
import hashlib
import numpy as np
from sklearn.datasets import load_sample_image
from augmill.tasks.ops.policy import build_policy, run_policy

sources = [load_sample_image("china.jpg")[:256, :256], load_sample_image("flower.jpg")[:384, :512]]
digest = hashlib.sha256()
for name in ("perspective", "elastic", "affine", "rotate"):
    ops = build_policy([{"name": name, "p": 1.0}], "image")
    for source in sources + [np.ascontiguousarray(source[..., 0]) for source in sources]:
        for seed in range(12):
            digest.update(run_policy(ops, np.random.default_rng(seed), source)[0].tobytes())
print(digest.hexdigest())
"""


def test_the_warps_give_the_same_bytes_with_opencvs_dispatched_simd_turned_off():
    native = probe(environment())
    env = lower_cpu_environment(native)
    digests = [subprocess.run([sys.executable, "-c", WARPS], env=run_env | {"PYTHONPATH": str(REPO)}, capture_output=True,
                              text=True, check=True).stdout for run_env in (environment(), env)]
    assert digests[0] and digests[0] == digests[1]
