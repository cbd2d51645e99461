"""What made a dataset version's bytes: Python, the libraries that read, compute or encode
them (with the codec libraries they carry), and the CPU features their fast paths pick.

A version records this (reports/environment.json, tracked by git), so that when another
machine gets other bytes, `augmill verify` can say what differs between the two.
Plain data in, plain data out: no file is written here.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from pathlib import Path

from augmill.tasks.cache import installed_version

# Distributions whose code touches an output's bytes: decoding, operators, encoders, manifests,
# measurements, models, plots and pages (by distribution name, as pip installs them).
BYTE_LIBRARIES = ("numpy", "pillow", "opencv-python-headless", "soundfile", "scipy", "scikit-learn",
                  "imbalanced-learn", "pandas", "pyarrow", "torch", "dvc", "imagehash", "matplotlib",
                  "great-expectations", "jinja2", "deflate")

# Pillow's codecs and the libraries behind them (zlib-ng or zlib, libjpeg-turbo, ...): an image's
# encoded bytes are theirs. Tk is left out: asking its version imports tkinter.
PILLOW_LIBRARIES = ("jpg", "jpg_2000", "zlib", "libtiff", "webp", "avif", "littlecms2", "libjpeg_turbo",
                    "zlib_ng", "libimagequant")

# The /proc/cpuinfo flags that numpy's, OpenCV's, zlib-ng's, libjpeg-turbo's and PyTorch's
# dispatchers choose between; the rest (virtualisation, power management) make no byte differ.
SIMD_FLAGS = ("sse2", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "f16c", "fma", "bmi1", "bmi2", "avx2",
              "avx_vnni", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512ifma",
              "avx512vbmi", "avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq", "avx512_bf16",
              "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "pclmulqdq", "vpclmulqdq", "aes", "vaes",
              "gfni", "sha_ni")


def gather(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """This process's environment, as JSON-ready data."""
    return {
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "platform": {"system": platform.system(), "machine": platform.machine(), "release": platform.release(),
                     "libc": " ".join(part for part in platform.libc_ver() if part)},
        "libraries": library_versions(),
        "codecs": codec_versions(),
        "cpu": cpu_description(cpuinfo),
        # The OpenBLAS kernels augmill's stages pin (flows/stages.py): the BLAS code path that ran.
        "blas": {"openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")},
    }


def library_versions() -> dict[str, str | None]:
    """Installed version of each byte library (None: not installed, e.g. torch without the extra).
    From the package metadata: nothing is imported (torch alone would take seconds)."""
    return {name: installed_version(name) for name in BYTE_LIBRARIES}


def codec_versions() -> dict[str, str | None]:
    """The native libraries inside the wheels: Pillow's codecs, libsndfile, matplotlib's FreeType."""
    from PIL import features

    codecs: dict[str, str | None] = {f"pillow.{name}": features.version(name) for name in PILLOW_LIBRARIES}
    codecs["libsndfile"] = _optional_attribute("soundfile", "__libsndfile_version__")
    codecs["matplotlib.freetype"] = _optional_attribute("matplotlib.ft2font", "__freetype_version__")
    return codecs


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The CPU, and which code paths numpy and OpenCV run on it (their runtime dispatch)."""
    model, flags = _cpuinfo(cpuinfo)
    return {"model": model, "simd_flags": [flag for flag in SIMD_FLAGS if flag in flags],
            "numpy": _numpy_dispatch(), "opencv": _opencv_dispatch()}


def _cpuinfo(path: Path) -> tuple[str | None, set[str]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:  # not Linux: the model from platform, no flags
        return platform.processor() or None, set()
    fields = dict(line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    return fields.get("model name"), set(fields.get("flags", "").split())


def _numpy_dispatch() -> dict:
    from numpy._core import _multiarray_umath as umath  # where numpy 2 keeps its dispatch tables

    available = umath.__cpu_features__
    return {"baseline": list(umath.__cpu_baseline__),
            "dispatched": [target for target in umath.__cpu_dispatch__ if available.get(target)]}


def _opencv_dispatch() -> dict | None:
    try:
        import cv2
    except ImportError:
        return None
    # e.g. "SSE SSE2 SSE3 *SSE4.1 ... *AVX512-SKX": baseline, then dispatched (*), "?" = not on this CPU.
    return {"features": cv2.getCPUFeaturesLine(), "optimized": bool(cv2.useOptimized())}


def _optional_attribute(module: str, attribute: str) -> str | None:
    import importlib

    try:
        return str(getattr(importlib.import_module(module), attribute))
    except (ImportError, AttributeError, OSError):  # OSError: soundfile without its libsndfile
        return None


def differences(recorded: Mapping, current: Mapping) -> list[tuple[str, object, object]]:
    """(dotted key, recorded value, current value) for every leaf that differs, sorted by key;
    a key missing on one side has None there."""
    flat_recorded, flat_current = _flatten(recorded), _flatten(current)
    return [(key, flat_recorded.get(key), flat_current.get(key))
            for key in sorted(flat_recorded.keys() | flat_current.keys())
            if flat_recorded.get(key) != flat_current.get(key)]


def describe_difference(key: str, recorded: object, current: object) -> str:
    """One line: lists (CPU flags, dispatch targets) say what each side has that the other lacks."""
    if isinstance(recorded, list) and isinstance(current, list):
        only_recorded = [item for item in recorded if item not in current]
        only_current = [item for item in current if item not in recorded]
        parts = ([f"only recorded: {' '.join(map(str, only_recorded))}"] if only_recorded else []) + \
                ([f"only here: {' '.join(map(str, only_current))}"] if only_current else [])
        return f"{key}: " + ("; ".join(parts) or "same items, another order")
    return f"{key}: {recorded} -> {current}"


def _flatten(data: Mapping, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
