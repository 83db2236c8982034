# Sourced by scripts/flex-patch.sh and scripts/tch-patch.sh:
#   patched_crate CRATE-VERSION DST PATCH...   copies CRATE-VERSION from cargo's registry to DST
#                                              (replacing it) and applies each PATCH there.
#   keep_lockfile ROOT                         puts ROOT/Cargo.lock back as it is now when the
#                                              script exits (`--config patch...` rewrites it).
patched_crate() {
  local crate=$1 dst=$2 src p
  shift 2
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate" 2>/dev/null | head -1)
  if [[ -z "$src" ]]; then
    echo "$crate is not in cargo's registry (run cargo fetch)" >&2
    return 1
  fi
  rm -rf "$dst"
  cp -a "$src" "$dst"
  chmod -R u+w "$dst"
  for p in "$@"; do
    patch -s -p1 -d "$dst" < "$p"
    echo "$(basename "$p") applied to $dst"
  done
}

keep_lockfile() {
  lock_root=$1
  lock_backup=$(mktemp)
  cp "$lock_root/Cargo.lock" "$lock_backup"
  trap 'cp "$lock_backup" "$lock_root/Cargo.lock"; rm -f "$lock_backup"' EXIT
}
