#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""compare.py: the same bench sections for two builds of the daemon in one run,
alternating (base, new, base, new...) so that a shared machine's load falls on
both alike; prints one Markdown table of each figure before and after and their
ratio (after / before), and writes it to --out.

  tests/bench/compare.py --base main                 ingest, callgrind, steady
  tests/bench/compare.py --base main --rounds 2 --sections ingest

The base revision is built from `git archive REV` under tests/bench/work/base/
(meson buildtype debugoptimized, as run.sh builds build-bench); the new one is
the worktree's build-bench (run.sh builds it; so does this script)."""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
WORK = os.path.join(HERE, "work")
TARGETS = ["daemon/ntm-gatewayd", "tests/tools/ntm-sim", "tests/bench/ntm-replay",
           "plugins/provincial-http/provincial-http.so", "plugins/file/file.so"]


def sh(argv, **kw):
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, **kw)


def build(src, bdir):
    if os.path.isdir(bdir):
        sh(["meson", "setup", "--reconfigure", bdir, "-Dbuildtype=debugoptimized"], cwd=src,
           stdout=subprocess.DEVNULL)
    else:
        sh(["meson", "setup", bdir, "-Dbuildtype=debugoptimized"], cwd=src,
           stdout=subprocess.DEVNULL)
    sh(["ninja", "-C", bdir, *TARGETS], cwd=src, stdout=subprocess.DEVNULL)


def number(text):
    """The first number of a measured cell ('70,134 msg/s (1.43 s)' -> 70134.0)."""
    m = re.search(r"-?[\d,]*\.?\d+", text.replace("\u00a0", " "))
    return float(m.group(0).replace(",", "")) if m else None


def key(figure):
    """A figure's name without the figures some names carry ('runs: 21,314, ...')."""
    return re.sub(r"; runs: [^)]*", "", figure)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="git revision of the baseline")
    ap.add_argument("--sections", default="ingest,callgrind,steady")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(WORK, "COMPARE.md"))
    args = ap.parse_args()
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", args.base],
                         capture_output=True, text=True, check=True).stdout.strip()
    base_src = os.path.join(WORK, "base", rev)
    if not os.path.isdir(base_src):
        os.makedirs(base_src)
        sh(["sh", "-c", f"git -C {ROOT} archive {rev} | tar -x -C {base_src}"])
    build(base_src, os.path.join(base_src, "build-bench"))
    build(ROOT, os.path.join(ROOT, "build-bench"))
    builds = {"before": os.path.join(base_src, "build-bench"),
              "after": os.path.join(ROOT, "build-bench")}
    got = {"before": {}, "after": {}}
    order = []
    for r in range(args.rounds):
        for sec in args.sections.split(","):
            for which in ("before", "after"):
                out = os.path.join(WORK, f"compare-{which}-{sec}-{r}.json")
                sh([sys.executable, os.path.join(HERE, "bench.py"), "--build", builds[which],
                    "--only", sec, "--json", out] + (["--quick"] if args.quick else []))
                with open(out) as f:
                    for row in json.load(f):
                        k = key(row["figure"])
                        got[which].setdefault(k, []).append(row["measured"])
                        if k not in order:
                            order.append(k)
    lines = [f"Before: `{rev}` ({args.base}); after: the worktree "
             f"(`{subprocess.run(['git', '-C', ROOT, 'log', '-1', '--format=%h %s'], capture_output=True, text=True).stdout.strip()[:80]}`); "
             f"sections {args.sections}, {args.rounds} round(s), alternating.", "",
             "| figure | before | after | after / before |", "| --- | --- | --- | --- |"]
    for fig in order:
        b, a = got["before"].get(fig, []), got["after"].get(fig, [])
        nb = [x for x in (number(v) for v in b) if x is not None]
        na = [x for x in (number(v) for v in a) if x is not None]
        ratio = ""
        if nb and na and sum(nb) != 0:
            ratio = f"{(sum(na) / len(na)) / (sum(nb) / len(nb)):.3f}"
        lines.append(f"| {fig} | {'; '.join(b)} | {'; '.join(a)} | {ratio} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
