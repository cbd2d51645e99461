#!/usr/bin/env bash
# Regenerate requirements-lock.txt: the whole resolved dependency set (core, test and generative
# extras) with hashes, for Python 3.11 on x86-64 Linux, whatever machine runs this. pyproject.toml
# keeps its ranges; this file pins what README command 1 and .ci/run install (pip install --require-hashes).
# uv resolves (seconds, hashes, plain requirements output that pip alone installs); it is installed into a
# throwaway venv when not on PATH. PyTorch's CPU build (torch==2.13.0+cpu) is not on PyPI: uv finds it
# through PIP_FIND_LINKS (a folder or page holding that wheel), as pip does.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=$(command -v uv || true)
if [ -z "$uv" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  python3 -m venv "$scratch/venv"
  "$scratch/venv/bin/pip" install -q "uv>=0.13,<0.14"
  uv="$scratch/venv/bin/uv"
fi

find_links=()
if [ -n "${PIP_FIND_LINKS:-}" ]; then
  for location in $PIP_FIND_LINKS; do find_links+=(--find-links "$location"); done
else
  echo "scripts/lock.sh: PIP_FIND_LINKS is not set: torch==2.13.0+cpu will be looked for on PyPI only" >&2
fi

"$uv" pip compile pyproject.toml --all-extras --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --constraint <(echo torch==2.13.0+cpu) "${find_links[@]}" \
  --no-emit-find-links --custom-compile-command "scripts/lock.sh" -o requirements-lock.txt
