#!/usr/bin/env bash
# Opens a `tl report` page in headless Chromium and saves a screenshot, to check by eye that
# the page renders and shows its pictures (Debian: apt-get install chromium).
#   scripts/check-report.sh RUN/report/report.html [shot.png]
set -euo pipefail
page=$(realpath "$1")
shot=${2:-report-screenshot.png}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1200,3200 --screenshot="$shot" "file://$page" 2>/dev/null
echo "wrote $shot"
