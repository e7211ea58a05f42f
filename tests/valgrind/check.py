"""check.py: reads the memcheck logs of a valgrind run (Python 3 stdlib).

    python3 tests/valgrind/check.py tests/out/valgrind

Each vg-<pid>.log is one process: a Kore parent or a worker.  Fails (exit
1) when a process reports an error (memcheck counts definite leaks as
errors in this run, --errors-for-leak-kinds=definite) or when valgrind
itself died; prints the first reports.  A log without its final summary
is a process killed with SIGKILL (a test's kill9, or a stop timeout): it
is counted and listed, not failed, because valgrind cannot report then.
Prints one summary line per run for the report.
"""
import os
import re
import sys


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/out/valgrind"
    logs = sorted(f for f in os.listdir(d) if f.startswith("vg-"))
    total = errors = killed = 0
    leaked = blocks = suppressed = 0
    bad, cut = [], []
    for name in logs:
        with open(os.path.join(d, name), errors="replace") as f:
            text = f.read()
        total += 1
        if "valgrind: " in text and "Assertion" in text or \
                "Valgrind's memory management: out of memory" in text:
            bad.append((name, "valgrind itself failed", text))
            continue
        m = re.search(r"ERROR SUMMARY: (\d+) errors from \d+ contexts "
                      r"\(suppressed: (\d+) from", text)
        if m is None:
            killed += 1
            cut.append(name)
            continue
        n = int(m.group(1))
        suppressed += int(m.group(2))
        lost = re.search(r"definitely lost: ([\d,]+) bytes in ([\d,]+) "
                         r"blocks", text)
        if lost:
            leaked += int(lost.group(1).replace(",", ""))
            blocks += int(lost.group(2).replace(",", ""))
        if n > 0:
            errors += n
            bad.append((name, "%d errors" % n, text))

    for name, why, text in bad[:5]:
        print("# %s: %s" % (name, why))
        # The reports: blocks of "==pid== " lines after the header.
        body = [ln for ln in text.splitlines()
                if ln.startswith("==") or not ln.startswith("--")]
        for ln in body[6:120]:
            print("#   " + ln)
    if cut:
        print("# %d processes were killed before valgrind could report "
              "(SIGKILL): %s" % (len(cut), " ".join(cut[:20])))
    print("valgrind: %d processes, %d reported, %d killed; %d errors, "
          "%d bytes definitely lost in %d blocks (not suppressed), "
          "%d suppressed" % (total, total - killed - len(
              [b for b in bad if b[1] == "valgrind itself failed"]),
              killed, errors, leaked, blocks, suppressed))
    if total == 0:
        print("valgrind: no logs in %s: did the servers run under it?" % d)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
