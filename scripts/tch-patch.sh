#!/usr/bin/env bash
# Tries patches/burn-tch-0.22.1-conv2d-weight-relu-backward.patch (issue #21): burn-tch 0.22.1
# with LibTorch's own ReLU backward and, for convolutions with few input channels, the weight
# gradient as a batched product of im2col columns, instead of burn-backend's defaults.
#
#   scripts/tch-patch.sh      # builds stock and patched, then runs both benches on each, twice
#
# Needs the LibTorch set-up (scripts/setup-libtorch.sh: a venv with torch==2.9.0, sourced
# here). The stock build uses its cache (~/.cache/tl-target-tch); the patched one a copy of
# burn-tch in TL_TCH_PATCHED (default ~/.cache/tl-burn-tch-patched) and a cache of its own
# (~/.cache/tl-target-tch-patched, seeded from the stock one so only burn-tch and what depends
# on it rebuild). The workspace is left as it was (Cargo.lock put back).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=/dev/null
source scripts/setup-libtorch.sh
stock_target="$CARGO_TARGET_DIR"
patched_target="${TL_TCH_PATCHED_TARGET_DIR:-$HOME/.cache/tl-target-tch-patched}"
dst="${TL_TCH_PATCHED:-$HOME/.cache/tl-burn-tch-patched}"
# shellcheck source=/dev/null
source scripts/patched-crate.sh
cargo fetch -q
patched_crate burn-tch-0.22.1 "$dst" patches/burn-tch-0.22.1-conv2d-weight-relu-backward.patch

keep_lockfile "$root"
build=(cargo build -q --release -p tl-models --features tch --example train_step_bench --example conv_backward_bench)
CARGO_TARGET_DIR="$stock_target" "${build[@]}"
[[ -d "$patched_target" ]] || cp -a "$stock_target" "$patched_target"
CARGO_TARGET_DIR="$patched_target" "${build[@]}" --config "patch.crates-io.burn-tch.path=\"$dst\""
for run in 1 2; do
  for target in "$stock_target" "$patched_target"; do
    echo -e "\n## run $run, $([[ $target == "$stock_target" ]] && echo stock || echo patched) burn-tch"
    "$target/release/examples/conv_backward_bench" --device tch
    "$target/release/examples/train_step_bench" --device tch --ops
  done
done
