#!/usr/bin/env bash
# Issue #21's table (examples/bench.rs) on a lent NVIDIA GPU machine, in one prepared call.
# That machine has the NVIDIA driver and PyTorch but no Rust, no Vulkan loader and no registry
# (../shared/gpu/README.md), and only 64 MiB travel with a call: everything is built and
# packed here, into folders git ignores, and the call only unpacks and runs.
#
#   scripts/gpu-bench.sh prepare            # here, once: fills .gpu/ and .gl/ (about 35 MB)
#   scripts/gpu-bench.sh prepare --tch      # also a LibTorch binary for the tch-cuda column
#   # then, through the device tool, one call (about 5 minutes of its time):
#   #   run(command="bash scripts/gpu-bench.sh device", carry=[".gpu", ".gl"], timeout_s=540)
#   scripts/gpu-bench.sh device --devices wgpu-cpu --torch-device cpu --rows cnn-infer-128 \
#       --repeats 1                          # here: the same steps on lavapipe, as a dry run
#
# `prepare` builds examples/bench.rs with wgpu (and with `--tch` a second binary with tch, for
# the `tch-cuda` column, through scripts/setup-libtorch.sh), strips and gzips it into
# .gpu/, copies MNIST, USPS and the MNIST CNN (TL_DATA_DIR, TL_MODEL_DIR) into .gpu/, and
# downloads the Vulkan loader's Debian packages into .gl/. `device` unpacks the loader, runs
# the bench against PyTorch on CUDA (bench.py, dann_reference.py) and writes the table,
# JSON and log to $OUT (or .gpu/out). MiniLM's rows are skipped there: its 90 MB of weights do
# not travel. The tch column runs only if that machine's PyTorch is 2.9.x, the version
# burn-tch 0.22.1 links against (a PyTorch with CUDA is far over 64 MiB, so it cannot travel;
# the H200 seen on 2026-11-27 had 2.11); otherwise the log says so.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
shift || true

case "$mode" in
prepare)
  data="${TL_DATA_DIR:?TL_DATA_DIR must name the data folder (MNIST, USPS)}"
  models="${TL_MODEL_DIR:?TL_MODEL_DIR must name the models folder (mnist-cnn)}"
  for f in "$data/mnist/train-images-idx3-ubyte.gz" "$data/usps/usps.bz2" \
    "$models/mnist-cnn/handwriting_model.pth"; do
    [ -f "$f" ] || { echo "gpu-bench: missing $f" >&2; exit 1; }
  done
  grep -qx '/.gpu/' .gitignore && grep -qx '/.gl/' .gitignore ||
    { echo "gpu-bench: .gitignore must ignore /.gpu/ and /.gl/" >&2; exit 1; }
  mkdir -p .gpu/data .gpu/models/mnist-cnn .gl
  target="${CARGO_TARGET_DIR:-$HOME/.cache/tl-target}"
  CARGO_TARGET_DIR="$target" cargo build --release --features wgpu --example bench
  strip -o .gpu/bench-wgpu "$target/release/examples/bench"
  gzip -f -9 .gpu/bench-wgpu
  rm -f .gpu/bench-tch.gz
  if [ "${1:-}" = "--tch" ]; then
    # a subshell: the set-up changes PATH, LD_LIBRARY_PATH and CARGO_TARGET_DIR
    (
      # shellcheck source=/dev/null
      source scripts/setup-libtorch.sh >/dev/null
      cargo build --release --features tch --example bench
      strip -o .gpu/bench-tch "$CARGO_TARGET_DIR/release/examples/bench"
    )
    gzip -f -9 .gpu/bench-tch
  fi
  cp -r "$data/mnist" "$data/usps" .gpu/data/
  chmod -R u+w .gpu/data
  cp "$models/mnist-cnn/handwriting_model.pth" .gpu/models/mnist-cnn/
  if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p /tmp/amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update >/dev/null
    (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  fi
  du -sh .gpu .gl
  ;;
device)
  out="${OUT:-.gpu/out}"
  mkdir -p "$out"
  log="$out/gpu-bench.log"
  args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(--devices wgpu --torch-device cuda --repeats 7 --dann-seeds 3)
  {
    date -u
    nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
    python3 -c 'import torch; print("PyTorch", torch.__version__, "cuda", torch.cuda.is_available())' ||
      echo "no PyTorch in python3"
  } >"$log" 2>&1
  # The loader and the GL dispatch libraries NVIDIA's Vulkan driver needs, unpacked into / as
  # ../shared/gpu/README.md says: only on an NVIDIA machine, as root (not on a dry run here).
  if [ "$(id -u)" = 0 ] && [ -e /dev/nvidia0 ] && ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  if [ -f "$nvidia_icd" ]; then export VK_DRIVER_FILES="$nvidia_icd"; fi
  if [ -f "$nvidia_egl" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$nvidia_egl"; fi
  export TL_DATA_DIR="$PWD/.gpu/data" TL_MODEL_DIR="$PWD/.gpu/models"
  bin=$(mktemp -d)
  gunzip -c .gpu/bench-wgpu.gz >"$bin/bench-wgpu"
  chmod +x "$bin/bench-wgpu"
  status=0
  "$bin/bench-wgpu" "${args[@]}" --json "$out/bench-wgpu.json" >"$out/bench-wgpu.md" 2>>"$log" ||
    status=$?
  cat "$out/bench-wgpu.md"
  torch_lib=$(python3 -c 'import os, torch; assert torch.__version__.startswith("2.9."); print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)
  if [ -f .gpu/bench-tch.gz ] && [ -n "$torch_lib" ]; then
    gunzip -c .gpu/bench-tch.gz >"$bin/bench-tch"
    chmod +x "$bin/bench-tch"
    tch_args=("${args[@]/#wgpu-cpu/tch}")
    tch_args=("${tch_args[@]/#wgpu/tch-cuda}")
    LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bin/bench-tch" \
      "${tch_args[@]}" --json "$out/bench-tch.json" >"$out/bench-tch.md" 2>>"$log" || status=$?
    cat "$out/bench-tch.md"
  else
    echo "tch column skipped: no .gpu/bench-tch.gz, or this machine's PyTorch is not 2.9.x" |
      tee -a "$log"
  fi
  tail -n 40 "$log"
  exit "$status"
  ;;
*)
  echo "usage: scripts/gpu-bench.sh prepare | device [bench arguments]" >&2
  exit 2
  ;;
esac
