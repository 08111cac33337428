"""Build archmodel's module import graph from the source (``ast``, nothing is imported) and
print its import circles.

Every ``import`` / ``from ... import`` of an archmodel module is an edge, wherever it stands:

* ``top``       executed when the module is imported (module level, class bodies, ``try``/``if``);
* ``function``  inside a ``def`` or ``lambda`` (a lazy import, run on first call);
* ``typing``    inside ``if TYPE_CHECKING:`` (never executed; left out of the circles unless
  ``--typing`` is given);
* ``importlib`` ``importlib.import_module("archmodel....")`` / ``__import__`` with a literal name
  (counted like the import statements). Calls with a computed name cannot be resolved; they
  are listed under "dynamic imports" so that none is hidden.

``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
With ``--packages`` an edge to ``a.b.c`` also adds edges to the packages ``a.b`` and ``a``
that Python runs first, except the importer's own enclosing packages (which Python has
already run before the importer itself).

Usage::

    python scripts/import_graph.py               # circles of the runtime graph
    python scripts/import_graph.py --typing      # also count TYPE_CHECKING imports
    python scripts/import_graph.py --packages    # also count enclosing-package imports
    python scripts/import_graph.py --edges archmodel.arch   # every edge out of / into a module

The exit status is 1 when there is a circle, else 0. ``tests/test_import_layers.py`` uses the
functions below.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

#: Import names of the packages built from this repository (see setup.py's ``MAPPED``).
ROOT_PACKAGES: tuple[str, ...] = ("archmodel", "archmodel.backends", "archmodel.cli", "archmodel.specs")

RUNTIME_KINDS = frozenset({"top", "function", "importlib"})


@dataclass(frozen=True)
class Edge:
    """``src`` imports ``dst`` (both dotted module names) at ``src``'s line ``line``."""

    src: str
    dst: str
    kind: str
    line: int


def module_files(roots: tuple[str, ...] = ROOT_PACKAGES) -> dict[str, Path]:
    """Dotted module name -> source file, for every module under the ``roots`` packages.

    The packages are located with :func:`importlib.util.find_spec` (which imports only the
    light ``archmodel/__init__.py``), so the folder mapping of ``setup.py`` is followed.
    """
    out: dict[str, Path] = {}
    for root in roots:
        spec = importlib.util.find_spec(root)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            base = Path(folder)
            for path in sorted(base.rglob("*.py")):
                rel = path.relative_to(base).with_suffix("")
                parts = list(rel.parts)
                if any(not p.isidentifier() for p in parts):
                    continue
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                name = ".".join([root, *parts])
                if name in out and out[name] != path:
                    continue  # a mapped package wins over a stray copy
                out.setdefault(name, path)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: list[tuple[str, str | None, str, int]] = []  # (target, name, kind, line)
        self.dynamic: list[tuple[int, str]] = []
        self._depth = 0
        self._typing = 0

    def _kind(self) -> str:
        if self._typing:
            return "typing"
        return "function" if self._depth else "top"

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.visit(node.test)
            self._typing += 1
            for stmt in node.body:
                self.visit(stmt)
            self._typing -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, None, self._kind(), node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            if node.level > 1:
                base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            self.found.append((target, alias.name, self._kind(), node.lineno))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                kind = "typing" if self._typing else "importlib"
                self.found.append((arg.value, None, kind, node.lineno))
            else:
                self.dynamic.append((node.lineno, ast.unparse(arg)))
        self.generic_visit(node)


def _resolve(target: str, name: str | None, modules: dict[str, Path]) -> str | None:
    if name is not None and name != "*" and f"{target}.{name}" in modules:
        return f"{target}.{name}"
    parts = target.split(".")
    while parts:  # ``import a.b.c`` binds ``a`` but runs a.b.c: the deepest known module
        cand = ".".join(parts)
        if cand in modules:
            return cand
        parts.pop()
    return None


def import_edges(modules: dict[str, Path] | None = None, *, packages: bool = False
                 ) -> tuple[list[Edge], list[tuple[str, int, str]]]:
    """All import edges between the ``modules`` and the imports whose name is computed.

    Returns
    -------
    edges : list of Edge
        Deduplicated per (src, dst, kind), first line kept; self-edges dropped.
    dynamic : list of (module, line, expression)
        ``import_module(<expression>)`` calls that cannot be resolved statically.
    """
    modules = module_files() if modules is None else modules
    seen: dict[tuple[str, str, str], Edge] = {}
    dynamic: list[tuple[str, int, str]] = []
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        col = _Collector(mod, path.name == "__init__.py")
        col.visit(tree)
        dynamic += [(mod, line, expr) for line, expr in col.dynamic]
        own = {".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 1)}
        for target, name, kind, line in col.found:
            dst = _resolve(target, name, modules)
            if dst is None:
                continue
            dsts = [dst]
            if packages:
                dsts += [p for p in (".".join(dst.split(".")[:i]) for i in range(1, dst.count(".") + 1))
                         if p in modules and p not in own and p != mod]
            for i, d in enumerate(dsts):
                k = kind if i == 0 else f"{kind}+package"
                if d != mod and (mod, d, k) not in seen:
                    seen[(mod, d, k)] = Edge(mod, d, k, line)
    return sorted(seen.values(), key=lambda e: (e.src, e.dst, e.kind)), dynamic


def runtime_kinds(*, typing: bool = False) -> set[str]:
    kinds = set(RUNTIME_KINDS) | ({"typing"} if typing else set())
    return kinds | {f"{k}+package" for k in kinds}


def strongly_connected(nodes: set[str], edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative), sorted."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        succ.setdefault(e.src, []).append(e.dst)
        succ.setdefault(e.dst, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(succ):
        if start in index:
            continue
        work = [(start, iter(sorted(set(succ[start]))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(set(succ[w])))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def circles(*, typing: bool = False, packages: bool = False
            ) -> tuple[list[list[str]], list[Edge], list[tuple[str, int, str]]]:
    """``(components, edges, dynamic)`` of the archmodel import graph (see module docstring)."""
    modules = module_files()
    edges, dynamic = import_edges(modules, packages=packages)
    kinds = runtime_kinds(typing=typing)
    used = [e for e in edges if e.kind in kinds]
    return strongly_connected(set(modules), used), used, dynamic


def describe(components: list[list[str]], edges: list[Edge]) -> str:
    """Human-readable report: each circle with the edges inside it (kind and line)."""
    if not components:
        return "no import circles"
    lines = []
    for comp in components:
        members = set(comp)
        lines.append(f"circle of {len(comp)} modules: {', '.join(comp)}")
        for e in edges:
            if e.src in members and e.dst in members:
                lines.append(f"    {e.src} -> {e.dst}  [{e.kind}, line {e.line}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--typing", action="store_true", help="count imports under TYPE_CHECKING too")
    ap.add_argument("--packages", action="store_true", help="count enclosing-package imports too")
    ap.add_argument("--edges", metavar="MODULE", help="print every edge out of and into MODULE")
    args = ap.parse_args(argv)
    comps, edges, dynamic = circles(typing=args.typing, packages=args.packages)
    if args.edges:
        for e in edges:
            if args.edges in (e.src, e.dst):
                print(f"{e.src} -> {e.dst}  [{e.kind}, line {e.line}]")
        return 0
    print(describe(comps, edges))
    if dynamic:
        print("dynamic imports (name computed at run time, not in the graph):")
        for mod, line, expr in dynamic:
            print(f"    {mod}:{line}  import_module({expr})")
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(main())
