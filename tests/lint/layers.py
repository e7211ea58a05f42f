#!/usr/bin/env python3
"""layers.py: the module's call graph between files, and a check that it
has no cycle (layers only call down).

    tests/lint/layers.py [--graph] [files...]     (make check-layers)

Definitions come from universal-ctags (non-static functions only:
--extras=-F drops file-scope tags); a file uses another when its code,
with comments and string literals removed, names one of the other file's
functions (a call, or a pointer handed to Kore: a timer, a state table).
Globals are not counted: `struct app app` (init.c) is read everywhere,
the way PgBouncer's cf_* are, and is set before the workers start.

Prints the layers bottom-up (a file's layer is one above the highest file
it uses) and, with --graph, every edge with the names behind it.  Exits 1
and prints each cycle (strongly connected set of files) if there is one.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def sources(args):
    if args:
        return sorted(args)
    out = []
    for d in ("src", "src/model"):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith(".c"):
                out.append(os.path.join(d, f))
    return out


def definitions(files):
    r = subprocess.run(["ctags", "-x", "--kinds-C=f", "--extras=-F",
                        "--language-force=C", "-o", "-"] + files,
                       cwd=ROOT, capture_output=True, text=True, check=True)
    defs = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        name, path = parts[0], parts[3]
        if name == "main":	# the command-line tools' entry points
            continue
        defs.setdefault(name, set()).add(path)
    return defs


STRIP = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'
                   r"'(?:\\.|[^'\\\n])*'", re.S)
WORD = re.compile(r"(?<![.>\w])([A-Za-z_]\w*)\b")


def code_words(path):
    with open(os.path.join(ROOT, path), encoding="utf-8",
              errors="replace") as f:
        text = STRIP.sub(" ", f.read())
    # Preprocessor lines name headers and macros, not calls.
    text = "\n".join(l for l in text.splitlines()
                     if not l.lstrip().startswith("#include"))
    return set(WORD.findall(text))


def graph(files):
    defs = definitions(files)
    edges = {f: {} for f in files}
    for f in files:
        for w in code_words(f):
            for g in defs.get(w, ()):
                if g != f:
                    edges[f].setdefault(g, set()).add(w)
    return edges


def sccs(edges):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layers(edges):
    level = {}

    def lv(v):
        if v not in level:
            level[v] = 0
            level[v] = 1 + max((lv(w) for w in edges[v]), default=-1)
        return level[v]

    for v in edges:
        lv(v)
    return level


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    files = sources(args)
    edges = graph(files)
    cycles = [c for c in sccs(edges) if len(c) > 1]
    if "--graph" in sys.argv:
        for f in sorted(edges):
            for g in sorted(edges[f]):
                print("%s -> %s  (%s)" % (f, g,
                                          ", ".join(sorted(edges[f][g]))))
        print()
    if cycles:
        for c in cycles:
            print("layers: cycle between %s" % ", ".join(c))
            for f in c:
                for g in sorted(edges[f]):
                    if g in c:
                        print("  %s -> %s  (%s)" % (
                            f, g, ", ".join(sorted(edges[f][g]))))
        return 1
    level = layers(edges)
    for n in range(max(level.values()) + 1):
        names = sorted(f[len("src/"):] for f in edges if level[f] == n)
        print("layer %d: %s" % (n, " ".join(names)))
    print("layers: %d files, %d edges, no cycle" %
          (len(edges), sum(len(e) for e in edges.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
