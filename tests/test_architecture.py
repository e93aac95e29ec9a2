"""The package's imports point one way: no module of `explorer` imports, directly or through others, a module
that imports it back.

Every import counts, as grimp reads them from the source: those at the top of a module, those inside a
function (imported on first use) and those under `if TYPE_CHECKING:`. A cycle is broken by moving the shared
code down into a module both sides import, never by hiding an import inside a function.
"""

from __future__ import annotations

import itertools

import pytest

grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter: pip install -e '.[dev]'")

PACKAGE = "explorer"


def import_cycles(graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion),
    each sorted, in the order of their first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, imports = work[-1]
            for imported in imports:
                if imported not in index:
                    index[imported] = low[imported] = len(index)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append((imported, iter(sorted(graph.find_modules_directly_imported_by(imported)))))
                    break
                if imported in on_stack:
                    low[module] = min(low[module], index[imported])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components)


def shortest_cycle(graph, component: list[str]) -> list[str]:
    """One shortest loop through the component's first module, that module first and last."""
    start = component[0]
    best: tuple[str, ...] | None = None
    for imported in sorted(graph.find_modules_directly_imported_by(start) & set(component)):
        chain = graph.find_shortest_chain(imported, start)
        if chain is not None and (best is None or len(chain) < len(best)):
            best = chain
    assert best is not None, component
    return [start, *best]


def describe(graph, component: list[str]) -> str:
    """The component's modules, then one loop through them with the line of each import."""
    lines = [f"{len(component)} modules import each other: {', '.join(component)}", "  for example:"]
    loop = shortest_cycle(graph, component)
    for importer, imported in itertools.pairwise(loop):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = ""
        if details:
            first = min(details, key=lambda d: d["line_number"])
            where = f"  (line {first['line_number']}: {first['line_contents'].strip()})"
        lines.append(f"    {importer} -> {imported}{where}")
    return "\n".join(lines)


def test_cycles_are_found_and_named():
    graph = grimp.ImportGraph()
    for module in ("p.a", "p.b", "p.c", "p.d", "p.e"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b", line_number=3, line_contents="from p.b import x")
    graph.add_import(importer="p.b", imported="p.c", line_number=4, line_contents="from p.c import y")
    graph.add_import(importer="p.c", imported="p.a", line_number=5, line_contents="from p.a import z")
    graph.add_import(importer="p.c", imported="p.d")  # leaves the loop: not part of it
    graph.add_import(importer="p.e", imported="p.a")
    assert import_cycles(graph) == [["p.a", "p.b", "p.c"]]
    text = describe(graph, ["p.a", "p.b", "p.c"])
    assert "3 modules import each other: p.a, p.b, p.c" in text
    assert "p.a -> p.b  (line 3: from p.b import x)" in text
    assert "p.c -> p.a  (line 5: from p.a import z)" in text
    graph.remove_import(importer="p.c", imported="p.a")
    assert import_cycles(graph) == []


def test_the_package_has_no_import_cycles():
    # cache_dir=None: no cache written into the checkout (and none shared between test processes).
    graph = grimp.build_graph(PACKAGE, exclude_type_checking_imports=False, cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, f"{len(cycles)} import cycle(s) in {PACKAGE}:\n" + "\n".join(
        describe(graph, component) for component in cycles
    )
