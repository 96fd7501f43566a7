"""vppsim's module graph: no import cycles (typing-only and function-level imports count too), no
reach-ins to another module's private names, and no code shared with the core (design.md: two
independent readings of VPP's behaviour)."""

from __future__ import annotations

import ast
import os

VPPSIM = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                      "vppsim")


def imports_of(path: str) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import statement anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                module = "vppsim" + ("." + module if module else "")
            found.append((module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def vppsim_graph() -> dict[str, set[str]]:
    modules = {name[:-3] for name in os.listdir(VPPSIM) if name.endswith(".py") and name != "__init__.py"}
    graph: dict[str, set[str]] = {}
    for module in modules:
        edges = set()
        for target, names in imports_of(os.path.join(VPPSIM, module + ".py")):
            if target.startswith("vppsim."):
                edges.add(target.split(".")[1])
            elif target == "vppsim":
                edges.update(name for name in names if name in modules)
        graph[module] = edges - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once per entry point)."""
    found, state = [], {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"cli": {"lb"}, "lb": {"maglev", "cli"}, "maglev": set()}) == [["cli", "lb", "cli"]]
    assert cycles({"server": {"handlers"}, "handlers": {"cli"}, "cli": set()}) == []


def test_vppsim_has_no_import_cycles():
    graph = vppsim_graph()
    assert {"cli", "lb", "handlers", "server"} <= set(graph)
    assert cycles(graph) == []


def test_vppsim_reaches_into_no_private_names_and_shares_nothing_with_the_core():
    for name in sorted(os.listdir(VPPSIM)):
        if not name.endswith(".py"):
            continue
        for target, names in imports_of(os.path.join(VPPSIM, name)):
            assert not target.startswith(("ansible_collections", "plugins")), (name, target)
            if target.startswith("vppsim"):
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{name} imports private names {private} from {target}"
