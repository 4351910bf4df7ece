#!/usr/bin/env bash
# Makes the README's pictures of the TUI from the current build: each screen is
# driven in tmux as a person would (keys sent, the pane read back with its
# colours), turned into HTML by ansi2html and photographed by headless Chromium.
# A fixed bug never stays on a picture: run this after a change to what a screen
# shows, and commit the PNGs.
#
#   assets/screenshots.sh            (as root on Debian it installs tmux,
#                                     colorized-logs and chromium when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
assets=$(pwd)/assets

missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v ansi2html >/dev/null || missing+=(colorized-logs)
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi
cargo build --release --locked -q
bin=$(pwd)/target/release/convoy

work=$(mktemp -d)
socket="convoy-shots-$$"
cleanup() {
  tmux -L "$socket" kill-server 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A tree worth looking at: photos, documents, music, one big video.
tree() {
  local root=$1
  mkdir -p "$root"/{Photos/2024,Photos/2025,Documents/reports,Music/albums}
  for i in $(seq 1 300); do head -c $((20000 + i * 97)) /dev/urandom > "$root/Photos/2024/IMG_$((4000 + i)).jpg"; done
  for i in $(seq 1 200); do head -c $((9000 + i * 31)) /dev/urandom > "$root/Photos/2025/IMG_$((5000 + i)).jpg"; done
  for i in $(seq 1 150); do head -c $((3000 + i * 13)) /dev/urandom > "$root/Documents/reports/report-$i.pdf"; done
  for i in $(seq 1 80); do head -c $((400000 + i * 1000)) /dev/urandom > "$root/Music/albums/track-$i.flac"; done
  head -c $((700 << 20)) /dev/zero | tr '\0' 'v' > "$root/holiday.mkv"
}
tree "$work/home"

# Runs `convoy ARGS` in a 100×30 terminal in folder $work; keys come after.
start() {
  tmux -L "$socket" kill-server 2>/dev/null || true
  # The old server may still be going away.
  while tmux -L "$socket" has-session 2>/dev/null; do sleep 0.1; done
  sleep 0.5
  tmux -L "$socket" new-session -d -x 100 -y 30 -c "$work" \
    "cd '$work' && '$bin' $1; sleep 600"
}
keys() { tmux -L "$socket" send-keys -t 0 "$@"; }
# Waits until the screen shows TEXT (up to 60 s).
until_shown() {
  for _ in $(seq 1 600); do
    tmux -L "$socket" capture-pane -t 0 -p | grep -qF "$1" && return 0
    sleep 0.1
  done
  echo "screenshots: '$1' never appeared" >&2
  tmux -L "$socket" capture-pane -t 0 -p >&2
  exit 1
}
shoot() {
  local name=$1
  tmux -L "$socket" capture-pane -t 0 -e -p > "$work/$name.ansi"
  ansi2html -t "convoy" < "$work/$name.ansi" \
    | sed 's|</head>|<style>body{margin:0;padding:6px;font:15px/1.15 "DejaVu Sans Mono",monospace}pre{margin:0;font:inherit}</style></head>|' \
    > "$work/$name.html"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chromium" --hide-scrollbars --window-size=930,560 \
    --screenshot="$assets/$name.png" "file://$work/$name.html" 2>/dev/null
  echo "assets/$name.png"
}

# Setup: the form, with the source given on the command line.
start "home"
until_shown "Start"
sleep 0.5
shoot setup

# Copying: slowed by a speed limit so the gauges stand mid-way.
start "--bwlimit 60M home backup"
until_shown "holiday.mkv"
sleep 4
shoot copying

# Cancelled while the big file is in flight: what is kept for resuming.
keys Escape; until_shown "Cancel"; keys y
until_shown "Kept for resuming"
shoot cancelled

# Summary: the same copy run to its end (it continues the partial).
start "home backup"
until_shown "Done"
shoot summary

# A conflict: the destination's files differ.
for f in "$work"/backup/Documents/reports/report-{1,2,3}.pdf; do echo changed > "$f"; done
start "--on-conflict ask home backup"
until_shown "Overwrite"
shoot conflict

# A queue under a speed limit.
start "--bwlimit 40M home queue-a --and home/Photos queue-b --and home/Music queue-c"
until_shown "Jobs"
sleep 3
shoot queue
