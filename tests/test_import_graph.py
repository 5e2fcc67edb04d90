"""No import cycles among the repository's own modules.

Every .py file of the packages, scripts/ and the top-level entry points is parsed with `ast`; each import of a
repository module, at module or function level, is an edge. Relative imports are resolved, and
`from package import name` points at package.name when that is a submodule.
"""

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "engine", "datasets", "preprocess", "bench", "inference", "inspection", "system", "scripts")


def module_files(root):
    """{module name: path} for the packages' files and the top-level *.py."""
    paths = [p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")] + list(root.glob("*.py"))
    names = {}
    for path in paths:
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _known(name, modules):
    """The longest prefix of a dotted name that is a repository module, or None."""
    parts = name.split(".")
    return next((m for i in range(len(parts), 0, -1) if (m := ".".join(parts[:i])) in modules), None)


def imports_of(module, path, modules):
    """The repository modules `module` imports anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _known(base, modules))
    return found - {None, module}


def import_graph(root):
    modules = module_files(root)
    return {m: imports_of(m, path, modules) for m, path in modules.items()}


def _path(graph, start, goal):
    """The shortest import chain start -> ... -> goal, or None."""
    came_from, queue = {start: None}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            chain = []
            while node is not None:
                chain.append(node)
                node = came_from[node]
            return chain[::-1]
        for nxt in sorted(graph.get(node, ())):
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    return None


def cycles(graph):
    """One line per cycle: 'a <-> b: a -> b -> ... -> a'."""
    found = {}
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if chain := _path(graph, b, a):
                found.setdefault(frozenset(chain), f"{a} <-> {b}: " + " -> ".join([a, *chain]))
    return sorted(found.values())


def test_no_import_cycles():
    graph = import_graph(ROOT)
    assert "models.checkpoint" in graph and "models" in graph
    problems = cycles(graph)
    assert not problems, "import cycles:\n" + "\n".join(problems)


def test_the_recognizer_and_the_bottom_stand_apart_from_training():
    """inference/ reaches no engine/ training module, directly or through others (engine.export, which builds the
    int8 model of `--precision int8`, reaches none either); system/ imports nothing of the repository; nothing in
    engine/ imports inspection/."""
    graph = import_graph(ROOT)
    engine = sorted(m for m in graph if m.split(".")[0] == "engine")
    training = [m for m in engine if m != "engine.export"]
    users = [m for m in graph if m.split(".")[0] == "inference" or m == "engine.export"]
    chains = [_path(graph, m, e) for m in users for e in training]
    assert not [" -> ".join(c) for c in chains if c]
    assert not set().union(*(graph[m] for m in graph if m.split(".")[0] == "system"))
    assert not [m for m in engine if any(i.split(".")[0] == "inspection" for i in graph[m])]


def test_finds_cycles_through_relative_and_submodule_imports(tmp_path):
    pkg = tmp_path / "models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def f():\n    from models import c\n")
    (pkg / "c.py").write_text("import models.a\n")
    (tmp_path / "main.py").write_text("from models import a\n")
    graph = import_graph(tmp_path)
    assert graph["main"] == {"models.a"} and graph["models"] == {"models.a"}
    assert cycles(graph) == ["models.a <-> models.b: models.a -> models.b -> models.c -> models.a"]
