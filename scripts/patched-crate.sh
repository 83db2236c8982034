# Sourced by scripts/flex-patch.sh and scripts/tch-patch.sh:
#   patched_crate CRATE-VERSION DST PATCH...   copies CRATE-VERSION from cargo's registry to DST
#                                              (replacing it) and applies each PATCH there.
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
