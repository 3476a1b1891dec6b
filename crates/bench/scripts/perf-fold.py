#!/usr/bin/env python3
"""Self and inclusive time of the stacks of `perf script` output that hold a frame matching ROOT.

Usage: perf script -i p2.data | python3 crates/bench/scripts/perf-fold.py 'p2::rounds::\\{closure_env#2\\}'
(the commits of P2's measured rounds; see crates/bench/README.md). Percentages are of the samples
under ROOT; inlined frames count as frames.
"""
import collections
import re
import sys


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: perf script -i FILE | perf-fold.py ROOT_REGEX")
    root = re.compile(sys.argv[1])
    self_time, incl, total, stack = collections.Counter(), collections.Counter(), 0, []

    def flush() -> None:
        nonlocal total, stack
        # stack[0] is the leaf; keep the frames up to the outermost match of ROOT.
        idx = next((i for i, f in enumerate(stack) if root.search(f)), None)
        if idx is not None:
            total += 1
            self_time[stack[0][:150]] += 1
            for f in set(s[:150] for s in stack[: idx + 1]):
                incl[f] += 1
        stack = []

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
        elif line[0] in "\t ":
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                sym = re.sub(r"\+0x[0-9a-f]+", "", parts[1])
                stack.append(re.sub(r" \(.*\)$", "", sym))
        else:
            flush()
    flush()
    if total == 0:
        sys.exit(f"no stack holds a frame matching {sys.argv[1]!r}")
    print(f"samples under root: {total}\n--- self")
    for s, c in self_time.most_common(30):
        print(f"{100 * c / total:6.1f}% {s}")
    print("--- inclusive")
    for s, c in incl.most_common(40):
        print(f"{100 * c / total:6.1f}% {s}")


if __name__ == "__main__":
    main()
