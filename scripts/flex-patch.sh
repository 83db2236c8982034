#!/usr/bin/env bash
# Tries the fixes for burn-flex 0.22.1 in patches/ (issue #21), the gaps the benches isolate:
#   burn-flex-0.22.1-conv2d-weight-backward.patch  its own `conv2d_weight_backward` (the columns x
#       output-gradient product, tile by tile, instead of burn-backend's convolution over the
#       batch; tl-models' conv_backward_bench)
#   burn-flex-0.22.1-gelu.patch  GELU over rayon's threads with a vectorisable erf (Eigen's
#       rational approximation) instead of libm's `erff` one element at a time (tl-text's
#       embed_bench --ops)
#   burn-flex-0.22.1-conv2d-small-input.patch  the direct small-channel forward for any number of
#       output channels when one batch item's input is at most 4096 elements (it stays in L1
#       across the re-reads), instead of im2col + gemm with a 9-long inner dimension (MNIST's
#       1 -> 32 first layer; train_step_bench --ops)
#
#   scripts/flex-patch.sh            # the patches' unit tests, then the benches on stock and patched flex
#   scripts/flex-patch.sh --no-tests # the benches only (the unit tests fetch realfft, a dev-dependency)
#
# It copies burn-flex 0.22.1 from cargo's registry to TL_FLEX_PATCHED (default
# ~/.cache/tl-burn-flex-patched), applies every patch there, runs their unit tests (the weight
# gradient against its definition, GELU against libm's erff on every layout, the small-channel
# forward against a naive convolution), then runs
# tl-models' conv_backward_bench and train_step_bench (`--ops`), and tl-text's embed_bench
# (`--ops`, when TL_DATA_DIR and TL_MODEL_DIR are set) twice: on stock burn-flex (CARGO_TARGET_DIR as set, default
# ~/.cache/tl-target) and with `--config patch.crates-io.burn-flex.path=...` in a build cache of
# its own (~/.cache/tl-target-flexpatch; the first build recompiles Burn, about 10 minutes on
# 2 cores). The workspace is not changed: Cargo.lock is put back as it was.
# The benches add a PyTorch column when `python3` imports torch (and sentence-transformers for
# embed_bench): put a venv's bin first on PATH, e.g. scripts/setup-libtorch.sh's
# ~/.cache/tl-torch/bin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dst="${TL_FLEX_PATCHED:-$HOME/.cache/tl-burn-flex-patched}"
stock_target="${CARGO_TARGET_DIR:-$HOME/.cache/tl-target}"
patched_target="${TL_FLEXPATCH_TARGET_DIR:-$HOME/.cache/tl-target-flexpatch}"
run_tests=1
[[ "${1:-}" == "--no-tests" ]] && run_tests=0

cd "$root"
cargo fetch -q
# shellcheck source=/dev/null
source scripts/patched-crate.sh
patched_crate burn-flex-0.22.1 "$dst" "$root"/patches/burn-flex-0.22.1-*.patch

if [[ $run_tests == 1 ]]; then
  (cd "$dst" && CARGO_TARGET_DIR="$patched_target-unit" cargo test -q --release \
    --features rayon,std,simd --lib -- conv_weight_backward gelu_fast_tests small_channel)
fi

keep_lockfile "$root"

benches() {
  cargo run -q --release -p tl-models --example conv_backward_bench "$@"
  cargo run -q --release -p tl-models --example train_step_bench "$@" -- --ops
  if [[ -n "${TL_DATA_DIR:-}" && -n "${TL_MODEL_DIR:-}" ]]; then
    cargo run -q --release -p tl-text --example embed_bench "$@" -- --ops
  fi
}
echo -e "\n## stock burn-flex 0.22.1"
CARGO_TARGET_DIR="$stock_target" benches
echo -e "\n## burn-flex 0.22.1 + patches/burn-flex-0.22.1-*.patch"
CARGO_TARGET_DIR="$patched_target" benches --config "patch.crates-io.burn-flex.path=\"$dst\""
