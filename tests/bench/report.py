#!/usr/bin/env python3
"""Prints the benchmark table (wall times by GNU time's %e): medians per tool, convoy's ratio to each (by the
medians, and the median of each round's own ratio: the tools of one round run
minutes apart, so a slow phase of this machine that spans a round cancels out of
it, where it can move a median), the fastest run (on a noisy machine the floor
each tool can reach), files/s, MiB/s, CPU seconds, peak RSS, and whether each
tool's copy was exact; under each table, convoy against the fastest peer,
its TUI against its batch mode, and convoy against the floor."""
import glob
import json
import os
import statistics
import sys


def main(results, trees):
    names = {}
    npath = os.path.join(results, "names")
    if os.path.exists(npath):
        names = dict(line.rstrip("\n").split("|", 1) for line in open(npath) if "|" in line)
    for tree in trees:
        info = open(os.path.join(results, f"{tree}.info")).read().strip()
        files = int(info.split(":")[1].split()[0])
        nbytes = int(info.split(", ")[1].split()[0])
        verify = {}
        vpath = os.path.join(results, f"{tree}.verify")
        if os.path.exists(vpath):
            for line in open(vpath):
                slug, _, verdict = line.strip().partition(" ")
                verify[slug] = verdict
        rows = {}
        by_round = {}
        failed = {}
        for path in sorted(glob.glob(os.path.join(results, f"{tree}.*.json"))):
            slug, rnd = os.path.basename(path)[len(tree) + 1:].rsplit(".", 2)[:2]
            timed = open(path[:-5] + ".time").read()
            fields = timed.split()
            try:
                if "Command " in timed:  # GNU time: "Command exited with non-zero status"
                    raise ValueError(timed.splitlines()[0])
                wall = json.load(open(path))["results"][0]["times"][0]
                float(fields[-1])
            except (ValueError, IndexError, KeyError):
                # The command failed (hyperfine wrote nothing, GNU time an
                # exit status): no time to count, but it must not go unsaid.
                failed[slug] = failed.get(slug, 0) + 1
                continue
            user, sys_, rss = fields[-3:]
            # GNU time's own wall clock of the command (older results have
            # none): the same clock for every tool, and for the TUI the
            # convoy process alone, not the tmux session around it.
            if len(fields) >= 4:
                wall = float(fields[-4])
            # It prints hundredths: a copy of a tiny folder reads 0.00.
            wall = max(wall, 0.005)
            rows.setdefault(slug, []).append((wall, float(user) + float(sys_), int(rss)))
            by_round.setdefault(slug, {})[rnd] = wall
        if not rows:
            continue
        med = {k: (statistics.median(w for w, _, _ in v), statistics.median(c for _, c, _ in v),
                   max(r for _, _, r in v), min(w for w, _, _ in v)) for k, v in rows.items()}
        base = med.get("convoy", (None,))[0]
        print(f"\n### {tree}: {info.split(': ', 1)[1]}\n")
        print("| tool | median wall s | convoy ÷ tool | by rounds (range) | fastest run s | files/s "
              "| MiB/s | CPU s | CPU ms / 1,000 files | peak RSS MiB | output |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for slug, (wall, cpu, rss, fastest) in sorted(med.items(), key=lambda kv: kv[1][0]):
            ratio = f"{base / wall:.2f}" if base else "–"
            rounds = by_rounds(by_round, "convoy", slug)
            name = names.get(slug, slug)
            out = verify.get(slug, "not verified")
            # What each file costs, where there are files enough to say.
            per_thousand = f"{cpu * 1e6 / files:,.1f}" if files >= 1000 else "–"
            print(f"| {name} | {wall:.2f} | {ratio} | {rounds} | {fastest:.2f} | {files / wall:,.0f} "
                  f"| {nbytes / wall / 2**20:,.0f} "
                  f"| {cpu:.2f} | {per_thousand} | {rss / 1024:.1f} | {out} |")
        print()
        for line in summary(med, by_round, names):
            print(line)
        for slug, n in sorted(failed.items()):
            print(f"\n{names.get(slug, slug)}: {n} run(s) failed, left out of the table")


def round_ratios(by_round, a, b):
    """Each round's own a ÷ b."""
    theirs = by_round.get(b, {})
    return [w / theirs[r] for r, w in by_round.get(a, {}).items() if r in theirs]


def by_rounds(by_round, a, b):
    """The median of each round's own a ÷ b, and their range."""
    pairs = round_ratios(by_round, a, b)
    if not pairs:
        return "–"
    return f"{statistics.median(pairs):.2f} ({min(pairs):.2f}–{max(pairs):.2f})"


def summary(med, by_round, names):
    """One line per comparison a reader of the table looks for: convoy against
    the fastest peer (by median), its TUI against its batch mode, and convoy
    against the floor of an exact copy when the run measured it."""
    ours = ("convoy", "convoy-tui")
    # Earlier builds of convoy (AGAINST=...): their names carry the revision.
    earlier = [k for k in med if names.get(k, k).startswith("convoy@")]
    peers = [k for k in med if k not in ours and k not in earlier and not k.startswith("floor")]
    lines = []
    for k in earlier:
        lines.append(f"- convoy ÷ {names.get(k, k)}: {med['convoy'][0] / med[k][0]:.2f} by medians, "
                     f"{by_rounds(by_round, 'convoy', k)} by rounds")
    if "convoy" in med and peers:
        best = min(peers, key=lambda k: med[k][0])
        lines.append(f"- convoy ÷ fastest peer ({names.get(best, best)}): "
                     f"{med['convoy'][0] / med[best][0]:.2f} by medians, "
                     f"{by_rounds(by_round, 'convoy', best)} by rounds")
        # A slow phase can make another peer the fastest by medians: the one
        # convoy is closest to (or behind) round by round is said too.
        rival = max(peers, key=lambda k: statistics.median(round_ratios(by_round, "convoy", k) or [0]))
        if rival != best:
            lines.append(f"- convoy ÷ fastest peer by rounds ({names.get(rival, rival)}): "
                         f"{med['convoy'][0] / med[rival][0]:.2f} by medians, "
                         f"{by_rounds(by_round, 'convoy', rival)} by rounds")
    if "convoy" in med and "convoy-tui" in med:
        lines.append(f"- TUI ÷ batch: {med['convoy-tui'][0] / med['convoy'][0]:.2f} by medians, "
                     f"{by_rounds(by_round, 'convoy-tui', 'convoy')} by rounds")
    for floor in ("floor--exact", "floor"):
        if "convoy" in med and floor in med:
            lines.append(f"- convoy ÷ {names.get(floor, floor)}: {med['convoy'][0] / med[floor][0]:.2f} "
                         f"by medians, {by_rounds(by_round, 'convoy', floor)} by rounds")
    return lines


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
