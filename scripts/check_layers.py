#!/usr/bin/env python3
"""Checks that the shared crate's imports point inward and form no circle (DESIGN.md, issue 26).

    domain, error  <-  ports  <-  use_cases  <-  adapters (and the other edges: http, config,
    audit, metrics)  <-  runtime (the one composition root)

Every `crate::<module>` a file names (in `use` trees and inline paths) is an edge from the
file's top-level module to that module. A module may name only modules of its own layer or an
inner one, and the graph of top-level modules (adapters' files counted one by one) has no cycle.

    python3 scripts/check_layers.py        # exit 1 and one line per problem, else a summary
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "shared" / "src"

LAYERS = {
    "domain": 0,
    "error": 0,
    "ports": 1,
    "use_cases": 2,
    "sharded_limit": 2,
    "adapters": 3,
    "audit": 3,
    "metrics": 3,
    "http": 3,
    "oauth_http": 3,
    "config": 3,
    "testing": 3,
    "runtime": 4,
}
LAYER_NAMES = ["domain", "ports", "use cases", "adapters", "composition root"]


def node_of(path: Path) -> str:
    """The graph node of a source file: its top-level module, or `adapters::<file>`."""
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[0] == "adapters" and len(parts) > 1 and parts[1] != "mod":
        return f"adapters::{parts[1]}"
    return parts[0]


def layer_of(node: str) -> int:
    return LAYERS[node.split("::")[0]]


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # A file's unit tests (`#[cfg(test)] mod tests`, last in the file: clippy's
    # items_after_test_module) are outermost code: they may use the testing adapters.
    return re.split(r"#\[cfg\(test\)\]\s*mod\s+tests\b", text)[0]


def use_tree_targets(tree: str):
    """Top-level names of a `use crate::...` tree: `{a, b::c, d::{e, f}}` -> a, b, d (and
    `adapters::x` for paths into adapters)."""
    tree = tree.strip()
    if tree.startswith("{"):
        inner, depth, item, items = tree[1:-1], 0, "", []
        for ch in inner:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                items.append(item)
                item = ""
            else:
                item += ch
        items.append(item)
        for item in items:
            yield from use_tree_targets(item)
        return
    head = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?:::(\{.*\}|[A-Za-z_][A-Za-z0-9_]*))?", tree, flags=re.S)
    if not head:
        return
    first, second = head.group(1), head.group(2)
    if first == "self":
        return
    if first == "adapters" and second:
        if second.startswith("{"):
            for sub in use_tree_targets(second):
                yield f"adapters::{sub.split('::')[0]}"
        else:
            yield f"adapters::{second}"
        return
    yield first


def edges_of(path: Path):
    text = strip_comments(path.read_text())
    found = set()
    for tree in re.findall(r"\buse\s+crate::(.*?);", text, flags=re.S):
        found.update(use_tree_targets(tree))
    for first, second in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?", text):
        found.add(f"adapters::{second}" if first == "adapters" and second else first)
    # `super::` inside adapters/<x>/ reaching a sibling adapter file.
    if path.relative_to(SRC).parts[0] == "adapters":
        depth = len(path.relative_to(SRC).parts) - (2 if path.name == "mod.rs" else 1)
        for name in re.findall(r"\bsuper::([a-z_][a-z0-9_]*)", text):
            if depth == 1 and name not in ("super",):
                found.add(f"adapters::{name}")
    return {t for t in found if t.split("::")[0] in LAYERS}


def main() -> int:
    graph, problems = {}, []
    for path in sorted(SRC.rglob("*.rs")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "lib.rs":
            continue
        node = node_of(path)
        if node.split("::")[0] not in LAYERS:
            problems.append(f"{rel}: module {node} has no layer in scripts/check_layers.py")
            continue
        for target in edges_of(path):
            if target == node or (target == "adapters" and node.startswith("adapters")):
                continue
            graph.setdefault(node, set()).add(target)
            if layer_of(target) > layer_of(node):
                problems.append(
                    f"{rel}: {LAYER_NAMES[layer_of(node)]} ({node}) imports {LAYER_NAMES[layer_of(target)]} ({target})"
                )
    # Cycles (Tarjan's strongly connected components).
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    for scc in sccs:
        problems.append("import circle: " + " <-> ".join(scc))
    for problem in problems:
        print(problem)
    if problems:
        return 1
    edges = sum(len(ws) for ws in graph.values())
    print(f"check_layers: {len(graph)} modules, {edges} imports, all inward, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
