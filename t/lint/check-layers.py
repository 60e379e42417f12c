#!/usr/bin/env python3
"""check-layers.py: the include graph follows Documentation/technical/layout.md.

lib/base includes only lib/base; lib/format includes base and format;
lib/ops includes base, format and ops; lib/ never includes cmd/ or
fuse-view/; and the modules (a .c and its .h; a private NAME-internal.h
belongs to module NAME) include one another in no circle. Prints each violation and exits 1 if there is any."""
import os
import re
import sys

RANK = {"base": 0, "format": 1, "ops": 2}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    """'lib/ops/gc.c' -> ('ops', 'gc'), 'lib/ops/fsck-internal.h' -> ('ops',
    'fsck'); None outside lib/."""
    parts = path.split(os.sep)
    if len(parts) == 3 and parts[0] == "lib" and parts[1] in RANK:
        name = os.path.splitext(parts[2])[0]
        if name.endswith("-internal"):
            name = name[:-len("-internal")]
        return parts[1], name
    return None


def main(root):
    errors = []
    graph = {}
    for layer in RANK:
        d = os.path.join(root, "lib", layer)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            rel = os.path.join("lib", layer, name)
            src = open(os.path.join(root, rel), encoding="utf-8").read()
            me = module_of(rel)
            graph.setdefault(me, set())
            for inc in INCLUDE.findall(src):
                if inc.startswith("../") or inc.startswith("cmd/") or inc.startswith("fuse-view/"):
                    errors.append("%s includes %s, outside lib/" % (rel, inc))
                    continue
                target = module_of(os.path.join("lib", inc))
                if target is None:
                    errors.append("%s includes \"%s\": name lib headers as \"layer/name.h\"" % (rel, inc))
                    continue
                if RANK[target[0]] > RANK[layer]:
                    errors.append("%s (%s) includes %s, a higher layer" % (rel, layer, inc))
                if target != me:
                    graph[me].add(target)
    # Circles among modules.
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                errors.append("circle: " + " -> ".join("%s/%s" % c for c in cycle))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    for e in errors:
        print("check-layers: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
