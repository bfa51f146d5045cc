"""Times compiled segments against hand-written SQL (see bench/segments.sh, which runs this).

For each block of bench/segments.txt: one warm-up run of each side, then `--runs` timed runs of
`facteur segment count --text RULE --now NOW --repeat N` (each run: the evaluation transaction
as the service runs it, timed inside the process) and as many of the hand-written SQL in one psql
session with \\timing (the same work_mem and jit as the service's evaluation transaction). Both
sides must count the same people. Then `facteur segment explain` tells whether the compiled plan
reads a partition of `events` with a sequential scan.
"""

import argparse
import datetime
import math
import os
import re
import statistics
import subprocess
import sys


def parse_blocks(path):
    blocks, current, in_sql = [], None, False
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("## "):
            current = {"name": line[3:].strip(), "rule": None, "sql": []}
            blocks.append(current)
            in_sql = False
        elif current is None or line.startswith("#"):
            continue
        elif line.startswith("rule: "):
            current["rule"] = line[len("rule: "):]
        elif line.strip() == "sql:":
            in_sql = True
        elif in_sql and line.strip():
            current["sql"].append(line)
        elif in_sql:
            in_sql = False
    for block in blocks:
        if not block["rule"] or not block["sql"]:
            sys.exit(f"segments file: block '{block['name']}' needs a rule and sql")
        block["sql"] = "\n".join(block["sql"])
    return blocks


def compiled(args, rule, now, repeat):
    out = subprocess.run(
        [args.facteur, "segment", "count", "--text", rule, "--now", now, "--repeat", str(repeat)],
        capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        sys.exit(f"facteur segment count failed for: {rule}\n{out.stdout}{out.stderr}")
    count = int(re.search(r"^(\d+) subscribers", out.stdout, re.M).group(1))
    times = [float(t) for t in re.search(r"^times_ms: (.*)$", out.stdout, re.M).group(1).split()]
    return count, times


def hand(args, sql, now, repeat):
    script = "SET work_mem = '128MB';\nSET jit = off;\n\\timing on\n" + (sql + ";\n") * repeat
    out = subprocess.run(
        [args.psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", f"now={now}", "-d", args.db],
        input=script, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"psql failed for:\n{sql}\n{out.stdout}{out.stderr}")
    counts = [int(line) for line in out.stdout.splitlines() if re.fullmatch(r"\d+", line)]
    times = [float(t) for t in re.findall(r"^Time: ([0-9.]+) ms", out.stdout, re.M)]
    # The two SETs are timed too: keep the query's own times.
    return counts[-1], times[-repeat:]


def seq_scans_of_events(args, rule, now):
    out = subprocess.run(
        [args.facteur, "segment", "explain", "--text", rule, "--now", now],
        capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        sys.exit(f"facteur segment explain failed for: {rule}\n{out.stdout}{out.stderr}")
    scanned = set(re.findall(r"Seq Scan on (events\w*)", out.stdout))
    # An empty partition (the months ahead, the default one) is read in no time whatever the plan.
    return sorted(scanned & args.partitions_with_rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--facteur", required=True)
    parser.add_argument("--psql", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("file")
    args = parser.parse_args()
    listed = subprocess.run(
        [args.psql, "-X", "-At", "-d", args.db, "-c",
         "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
         " WHERE i.inhparent = 'events'::regclass AND c.reltuples > 0"],
        capture_output=True, text=True, check=True)
    args.partitions_with_rows = set(listed.stdout.split())

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    blocks = parse_blocks(args.file)
    print(f"\n{len(blocks)} segments, {args.runs} timed runs each after a warm-up, evaluated as of {now}\n")
    header = f"{'segment':<8} {'members':>9} {'compiled ms':>12} {'hand ms':>9} {'ratio':>6}  events read by seq scan"
    print(header)
    print("-" * len(header))
    ratios, medians, failed, scanned = [], [], False, 0
    for number, block in enumerate(blocks, 1):
        compiled(args, block["rule"], now, 1)
        hand(args, block["sql"], now, 1)
        count, times = compiled(args, block["rule"], now, args.runs)
        hand_count, hand_times = hand(args, block["sql"], now, args.runs)
        ours, theirs = statistics.median(times), statistics.median(hand_times)
        ratio = ours / theirs
        ratios.append(ratio)
        medians.append(ours)
        scans = seq_scans_of_events(args, block["rule"], now)
        scanned += 1 if scans else 0
        mismatch = "" if count == hand_count else f"   COUNTS DIFFER: hand SQL gives {hand_count}"
        failed = failed or bool(mismatch)
        print(f"{number:<8} {count:>9,} {ours:>12.1f} {theirs:>9.1f} {ratio:>6.2f}  {', '.join(scans) or 'none'}{mismatch}")
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    p50 = statistics.median(medians)
    print()
    for block in blocks:
        print(f"  {block['name']}")
    print()
    print(f"geometric mean of the ratios: {geomean:.2f} (goal <= 1.0); worst ratio: {max(ratios):.2f} (goal <= 1.5)")
    print(f"p50 of the compiled medians: {p50:.1f} ms (goal <= 300 ms)")
    print(f"segments whose compiled plan reads events by sequential scan: {scanned} of {len(blocks)} (goal: none)")
    if failed:
        sys.exit("a compiled segment and its hand-written SQL counted different people")


if __name__ == "__main__":
    main()
