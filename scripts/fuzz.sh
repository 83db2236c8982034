#!/usr/bin/env bash
# Fuzzes every parser and loader (the targets in fuzz/) for a bounded time each, from seed
# corpora cut from the real files (scripts/fuzz-seeds.py) and the corpus earlier runs grew
# (kept in ~/.cache/tl-fuzz-corpus), under AddressSanitizer with libFuzzer's 2 GB memory and
# single-allocation limits. Prints a table (executions, corpus, findings per target) and
# fails when any target finds a crash, a leak, an over-allocation or a hang; the input that
# did it is kept under fuzz/artifacts/<target>/.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 20)] [TARGET...]
# cargo-fuzz is installed when missing; nightly flags come from RUSTC_BOOTSTRAP=1 on stable.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs="${1:-20}"
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${TL_FUZZ_TARGET_DIR:-$HOME/.cache/tl-fuzz-target}"
corpora="${TL_FUZZ_CORPUS:-$HOME/.cache/tl-fuzz-corpus}"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
python3 scripts/fuzz-seeds.py "$seeds" >/dev/null
cd fuzz
cargo fuzz build -O
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

failed=()
table="| target | seconds | executions | exec/s | corpus (inputs) | findings |\n|---|---:|---:|---:|---:|---|\n"
for t in "${targets[@]}"; do
  mkdir -p "$corpora/$t" "$seeds/$t"
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  status=0
  cargo fuzz run -O "$t" "$corpora/$t" "$seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(find "$corpora/$t" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    finding="none"
  else
    finding="**$(grep -m1 -E 'ERROR|panicked|deadly signal|out-of-memory|timeout' "$log" | cut -c1-80)** (fuzz/artifacts/$t)"
    failed+=("$t")
    tail -40 "$log"
  fi
  table+="| \`$t\` | $secs | ${runs:-?} | ${rate:-?} | $size | $finding |\n"
  printf '%-16s %8s runs  %s\n' "$t" "${runs:-?}" "$finding"
done
printf '\n%b' "$table"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
