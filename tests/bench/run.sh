#!/usr/bin/env bash
# convoy's benchmark against cp -a, rsync -a, tar|tar, and xcp, fcp, cpz when installed.
#
#   tests/bench/run.sh [small|large|huge|million|mixed|FOLDER ...]   (default: small large mixed)
#   tests/bench/run.sh small small:cold million:2 million:cold:2
#                       (a tree's own cache and number of rounds: every row in one run)
#   tests/bench/run.sh small:deleted:6   (just after deletions, below)
#   FRESH=1 tests/bench/run.sh ...   (as root: destinations on a fresh ext4, below)
#   JOBS="1 2 4 8" tests/bench/run.sh small large    (convoy alone at each -j: scaling;
#                                                     with FLOOR=1 the floor too)
#   SAFETY=1 tests/bench/run.sh small large   (what --verify, --flush, --fsync cost)
#   FLOOR=1 tests/bench/run.sh small mixed     (every tool and the floor: floor.rs)
#   AGAINST="6c4150c" tests/bench/run.sh small mixed   (this convoy against earlier builds)
#
# Needs hyperfine, GNU time and python3 (Debian: apt-get install hyperfine time);
# peers: cargo install xcp fcp cpz. Environment: RUNS (default 5), BENCH_DIR
# (default /var/tmp/convoy-bench), SETTLE (seconds after a deletion, default 400),
# CACHE=cold to drop the page cache before each run,
# JOBS to time only convoy at those worker counts, SAFETY=1 to time convoy's
# --verify, --flush and --fsync against a plain copy, the peers' flushes and the
# floor under --verify (copy, sync, every file read back from the device), FLOOR=1
# to add the floor of a copy on this machine (tests/bench/floor.rs: the bare
# walk, create and copy_file_range with convoy's parallelism; --exact adds each
# file's mode and times) to the tools.
# A tree with :deleted is timed in the state people meet when they delete the
# old backup and make the new one: before each round the tree is copied six
# times (cp -a) and the copies deleted at once, then every tool of the round
# runs with no wait and no deletion between them (ext4 without a journal skips
# the recently freed inodes on every create for minutes: see SETTLE below). Not
# with FRESH=1, whose filesystems never deleted anything.
# FRESH=1 (root; mkfs.ext4, losetup) writes every round into an ext4 made anew
# on a loop device over a preallocated image in BENCH_DIR, instead of into
# BENCH_DIR/out: no deletion, so no SETTLE, which makes the run that covers
# every row (a million files warm and cold: 22 million files deleted and
# settled otherwise) fit in under two hours. The image is made like this
# machine's root (no journal, no discard) and written in full once, so no round
# pays for allocating the image's blocks on the disk below.
# The machine's kernel and memory settings are left as they are (free page
# reporting, which makes the first write to a fresh page fault in the host,
# belongs to the machine's host): noise is fought with more rounds (RUNS).
# Tools run interleaved (round 1: every tool, round 2: every tool starting with the
# second, ...), each into a
# fresh, never-used destination: deleting a big tree and creating files right after
# measures ext4's inode reuse, not the copier. Old small-file copies are deleted in
# one batch after a tree is done, followed by a sync and a pause (SETTLE seconds,
# below). Times end when the copier exits (no final sync). Every tool's first output
# is verified.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/var/tmp/convoy-bench}
CACHE=${CACHE:-warm}
# After deleting many files, ext4 without a journal (this machine's) skips every
# inode freed in the last 60 s, or 360 s while its inode-table block is dirty
# (`recently_deleted` in fs/ext4/ialloc.c: RECENTCY_MIN + RECENTCY_DIRTY), and
# each new file's allocation scans past them all: a copy of the toolchain took
# 3-4.5 s instead of 1.1 s for six minutes after a deletion, with 45-66 % of the
# peers' samples there. The next copy dirties those blocks again, so a `sync` does
# not shorten it; only waiting does. Journalled ext4 never does this.
SETTLE=${SETTLE:-400}
trees=("$@")
[ ${#trees[@]} -gt 0 ] || trees=(small large mixed)
FRESH=${FRESH:-}

for need in hyperfine python3 tmux; do
  command -v $need >/dev/null || { echo "missing $need: apt-get install hyperfine python3 tmux" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: apt-get install time" >&2; exit 2; }

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
convoy="$repo/target/release/convoy"
floor="$repo/target/release/examples/floor"
[ -z "${FLOOR:-}" ] || cargo build --release --quiet --example floor --manifest-path "$repo/Cargo.toml"
mkdir -p "$BENCH_DIR/trees" "$BENCH_DIR/out" "$BENCH_DIR/results"
# RESULTS=an earlier run's folder adds trees to it (a run that stopped part way).
results=${RESULTS:-"$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$results"
out="$BENCH_DIR/out"

image="$BENCH_DIR/fresh.img"
loopdev=""
cleanup() {
  if [ -n "$FRESH" ]; then
    mountpoint -q "$out" && umount "$out"
    [ -z "$loopdev" ] || losetup -d "$loopdev"
    rm -f "$image"
  fi
}
trap cleanup EXIT
trap "exit 130" INT TERM
if [ -n "$FRESH" ]; then
  [ "$(id -u)" = 0 ] || { echo "FRESH=1 needs root (losetup, mount)" >&2; exit 2; }
  for need in mkfs.ext4 losetup mountpoint; do
    command -v $need >/dev/null || { echo "missing $need: apt-get install e2fsprogs mount" >&2; exit 2; }
  done
  [ -z "$(ls -A "$out")" ] || { echo "$out is not empty: delete it or run without FRESH" >&2; exit 2; }
  # 85 % of the free space: a round of a million files needs 11 million inodes
  # (one per 4 KiB block at most) and 25 GB.
  avail=$(df --output=avail -B1M "$BENCH_DIR" | tail -1)
  size_mib=$((avail * 85 / 100))
  echo "writing a ${size_mib} MiB image for the fresh filesystems ($image)" >&2
  dd if=/dev/zero of="$image" bs=16M count=$((size_mib / 16)) oflag=direct status=none
  loopdev=$(losetup -f --show --direct-io=on "$image")
fi
# A new filesystem for a round of FRESH runs, with inodes for all of its copies.
fresh_fs() {
  mountpoint -q "$out" && umount "$out"
  mkfs.ext4 -q -F -O ^has_journal -N "$1" -E nodiscard,lazy_itable_init=0 "$loopdev"
  mount -o nodiscard "$loopdev" "$out"
  sync
}

source_of() {
  case "$1" in
    small|large|huge|million)
      [ -d "$BENCH_DIR/trees/$1" ] || python3 "$here/gen.py" "$1" "$BENCH_DIR/trees/$1" >&2
      echo "$BENCH_DIR/trees/$1" ;;
    mixed) rustc --print sysroot ;;  # a Rust toolchain: many small files, some large
    *) [ -d "$1" ] && cd "$1" && pwd ;;  # any folder of your own
  esac
}

# name|command, with {S} the source and {D} the (not yet existing) destination.
# A command with {T} writes its own GNU time figures there (the TUI runs inside
# tmux, where the tmux client's own figures would say nothing about convoy, and
# its wall time would count tmux's start: 60-75 ms a run here).
tools=(
  "convoy|$convoy --batch -q {S} {D}"
  "convoy-tui|tmux -L convoy-bench new-session -d -x 120 -y 40 \"/usr/bin/time -f '%e %U %S %M' -o {T} $convoy --quit-when-done {S} {D}; tmux -L convoy-bench wait-for -S done\" && tmux -L convoy-bench wait-for done"
  "cp -a|cp -a {S} {D}"
  "rsync -a|rsync -a {S}/ {D}/"
  "tar|mkdir {D} && tar -C {S} -cf - . | tar -C {D} -xf -"
  "xcp|xcp -r {S} {D}"
  "fcp|fcp {S} {D}"
  "cpz|cpz {S} {D}"
)
if [ -n "${FLOOR:-}" ]; then
  tools+=("floor|$floor {S} {D}" "floor --exact|$floor --exact {S} {D}")
fi
if [ -n "${JOBS:-}" ]; then
  tools=()
  for j in $JOBS; do
    tools+=("convoy -j$j|$convoy --batch -q -j $j {S} {D}")
    [ -z "${FLOOR:-}" ] || tools+=("floor -j$j|$floor -j $j {S} {D}")
  done
fi
if [ -n "${SAFETY:-}" ]; then
  tools=(
    "convoy|$convoy --batch -q {S} {D}"
    "convoy --verify|$convoy --batch -q --verify {S} {D}"
    "floor: copy, sync, read back|$convoy --batch -q {S} {D} && sync && python3 $here/readback.py {D}"
    "convoy --flush|$convoy --batch -q --flush {S} {D}"
    "cp -a; sync|cp -a {S} {D} && sync"
    "convoy --fsync|$convoy --batch -q --fsync {S} {D}"
    "rsync -a --fsync|rsync -a --fsync {S}/ {D}/"
    "xcp --fsync|xcp -r --fsync {S} {D}"
  )
fi
# AGAINST="REV ..." times this convoy against the ones built from those git
# revisions and nothing else, interleaved as every row is: a change that must
# not slow the copy (a refactor) is shown within noise of what it replaces.
if [ -n "${AGAINST:-}" ]; then
  tools=("convoy|$convoy --batch -q {S} {D}")
  for rev in $AGAINST; do
    built="$BENCH_DIR/against/$rev"
    if [ ! -x "$built/target/release/convoy" ]; then
      rm -rf "$built" && mkdir -p "$built"
      git -C "$repo" archive "$rev" | tar -x -C "$built"
      cargo build --release --quiet --manifest-path "$built/Cargo.toml"
    fi
    tools+=("convoy@$rev|$built/target/release/convoy --batch -q {S} {D}")
  done
fi
available=()
for t in "${tools[@]}"; do
  bin=${t#*|}; bin=${bin%% *}
  if [[ ${t%%|*} == convoy* ]] || command -v "$bin" >/dev/null; then
    available+=("$t")
  else
    echo "note: ${t%%|*} is not installed, skipped (cargo install xcp fcp cpz)" >&2
  fi
done

# Copies left by an interrupted run: deleted, then time for ext4 to forget them.
if [ -z "$FRESH" ] && [ -n "$(ls -A "$out")" ]; then
  rm -rf "${out:?}/"*; sync; sleep "$SETTLE"
fi

labels=()
for spec in "${trees[@]}"; do
  # tree[:warm|:cold][:rounds]
  arg=${spec%%:*}; cache=$CACHE; runs=$RUNS; deleted=""
  IFS=: read -ra opts <<< "${spec#"$arg"}"
  for o in "${opts[@]}"; do
    case "$o" in
      "") ;;
      warm|cold) cache=$o ;;
      deleted) deleted=1 ;;
      *[!0-9]*) echo "unknown option $o in $spec (tree[:warm|:cold][:deleted][:rounds])" >&2; exit 2 ;;
      *) runs=$o ;;
    esac
  done
  prepare="sync"
  [ "$cache" = cold ] && prepare="sync; echo 3 > /proc/sys/vm/drop_caches"
  src=$(source_of "$arg")
  tree=$(basename "$arg")
  # The same tree warm and cold in one run: two rows.
  [ "$cache" = "$CACHE" ] || tree="$tree-$cache"
  if [ -n "$deleted" ]; then
    [ -z "$FRESH" ] || { echo "$spec: a fresh filesystem has deleted nothing (run it without FRESH)" >&2; exit 2; }
    tree="$tree-deleted"
  fi
  labels+=("$tree")
  # One walk of the source: its entries, their bytes and the disk they take.
  read -r files entries bytes usage < <(find "$src" -printf '%y %s %b\n' |
    awk '$1 != "d" { n++ } { s += $2; b += $3 * 512 } END { printf "%.0f %.0f %.0f %.0f\n", n, NR, s, b }')
  echo "$tree: $files entries, $bytes bytes in $src ($cache cache, $runs runs$([ -z "$FRESH" ] || echo ", fresh ext4 each round"))" | tee "$results/$tree.info" >&2
  # Inodes for a round's copies (the pacer and every tool); ext4 allows at most
  # one per block, so a million-file round needs an image of 46 GB or more.
  fresh_inodes=$(( entries * (${#available[@]} + 1) * 102 / 100 + 100000 ))
  [ -z "$FRESH" ] || fresh_fs $fresh_inodes
  # One untimed run fills the page cache with the source.
  # Its copy is deleted with the others after the tree (FRESH: the next round's
  # filesystem replaces it): deleting it now would slow the first tool of round 1
  # (see the note on ext4 above).
  $convoy --batch -q "$src" "$out/$tree-warmup-$$"
  # Copies stay until the tree is done, unless every round's would not fit in
  # the disk's free space or inodes (a million files; mixed at RUNS=7): then
  # each round's go after it. (FRESH rounds each have a filesystem of their own.)
  per_round=""
  if [ -z "$FRESH" ]; then
    copies=$(( (${#available[@]} + 1) * runs ))
    space=$(df --output=avail -B1 "$out" | tail -1)
    inodes=$(df --output=iavail "$out" | tail -1)
    if [ $((usage * copies)) -gt $((space * 9 / 10)) ] || [ $((files * copies)) -gt $((inodes * 9 / 10)) ]; then
      per_round=1
    fi
  fi
  for round in $(seq 1 "$runs"); do
    [ -z "$FRESH" ] || fresh_fs $fresh_inodes
    if [ -n "$deleted" ]; then
      for k in 1 2 3 4 5 6; do cp -a "$src" "$out/$tree-old-$round-$k-$$"; done
      rm -rf "$out/$tree-old-$round"-*-$$; sync
    fi
    # Each round starts one tool later: this machine has slow phases (see the
    # README) that would otherwise always hit the same tools, first in line.
    n=${#available[@]}; order=()
    for k in $(seq 0 $((n - 1))); do order+=("${available[$(( (k + round - 1) % n ))]}"); done
    # The first copy after a pause paid up to twice its time here (a million
    # files cold: 45.6 s first in line, 20.3 s later): an untimed copy, prepared
    # like the others, takes that place.
    hyperfine --runs 1 --warmup 0 --prepare "$prepare" --style none \
      "$convoy --batch -q $src $out/$tree-pacer-$round-$$" >/dev/null
    for t in "${order[@]}"; do
      name=${t%%|*}; slug=${name//[^a-z0-9-]/}
      grep -qxF "$slug|$name" "$results/names" 2>/dev/null || echo "$slug|$name" >> "$results/names"
      dst="$out/$tree-$slug-$round-$$"
      base="$results/$tree.$slug.$round"
      cmd=${t#*|}; cmd=${cmd//\{S\}/$src}; cmd=${cmd//\{D\}/$dst}
      if [[ $cmd == *"{T}"* ]]; then
        printf '%s\n' "${cmd//\{T\}/$base.time}" > "$base.sh"
        run="sh $base.sh"
      else
        printf '%s\n' "$cmd" > "$base.sh"
        run="/usr/bin/time -f '%e %U %S %M' -o $base.time sh $base.sh"
      fi
      # FRESH: every tool meets the round's filesystem as just mounted. The
      # copies before it in the round stay on the disk, not in memory: a million
      # files' inodes and folder entries take over a GiB of kernel memory per
      # copy, and the last tools of a round ran while the kernel reclaimed the
      # first ones' (the same convoy: 13.6 s first in a round, 42.3 s last).
      if [ -n "$FRESH" ]; then umount "$out"; mount -o nodiscard "$loopdev" "$out"; fi
      # A tool that fails is counted as failed by report.py; the run goes on.
      hyperfine --runs 1 --warmup 0 --prepare "$prepare" --style none --ignore-failure \
        --export-json "$base.json" "$run" >/dev/null
      if [ "$round" = 1 ]; then
        echo "$slug $(python3 "$here/verify.py" "$src" "$dst")" >> "$results/$tree.verify"
      fi
      # Big files free few inodes: deleting them at once saves disk. The
      # filesystem's discard of the freed blocks must not land on the next tool
      # (the fresh filesystems discard nothing).
      if [ "$arg" = large ] || [ "$arg" = huge ]; then
        rm -rf "$dst"; sync; [ -n "$FRESH" ] || sleep "${DISCARD_PAUSE:-10}"
      fi
    done
    if [ -n "$per_round" ]; then
      rm -rf "$out/$tree"-*-"$round"-$$; sync; sleep "$SETTLE"
    fi
    echo "  round $round done" >&2
  done
  if [ -z "$FRESH" ]; then
    rm -rf "$out/$tree"-*
    sync; sleep "$SETTLE"
  fi
done
python3 "$here/report.py" "$results" "${labels[@]}"
