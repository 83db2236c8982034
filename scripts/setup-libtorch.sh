#!/usr/bin/env bash
# Sets up the LibTorch backend (`--features tch`, devices `tch` and `tch-cuda`): a Python venv
# with PyTorch 2.9.0 from PyPI (the version burn-tch 0.22.1's `tch` 0.22 expects; its Linux
# wheel carries CUDA), and the variables torch-sys needs to build and run against it without
# downloading anything at build time.
#
#   source scripts/setup-libtorch.sh        # once per shell (installs the venv the first time)
#   cargo test --release --features tch --test core   # with TL_TEST_DEVICE=tch
#
# The venv lives in TL_TORCH_VENV (default ~/.cache/tl-torch; about 7 GB with CUDA's libraries).
venv="${TL_TORCH_VENV:-$HOME/.cache/tl-torch}"
if ! "$venv/bin/python" -c 'import torch; assert torch.__version__.startswith("2.9.0")' 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q "torch==2.9.0" numpy || {
    echo "setup-libtorch: could not install torch==2.9.0 into $venv" >&2
    return 1 2>/dev/null || exit 1
  }
fi
torch_lib=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LIBTORCH_USE_PYTORCH=1
export PATH="$venv/bin:$PATH"            # torch-sys asks this python where torch is
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The tch build has its own cache: switching features would otherwise rebuild Burn each time.
export CARGO_TARGET_DIR="${TL_TCH_TARGET_DIR:-$HOME/.cache/tl-target-tch}"
echo "LibTorch: PyTorch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') in $venv; CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
