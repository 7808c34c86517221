"""The house rules, checked on the source: one-way imports by stage, no cycles, no hidden imports.

Read from the files with :mod:`ast` (nothing is imported), so a rule broken anywhere in
``src/riskstrat`` or ``flows/`` fails here with the file, the line and the import.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "riskstrat"

#: The stages in the order the data flows; a module may import its own stage and earlier ones only.
STAGES = ("data_contracts", "model_specs", "core", "config", "ingest", "lake", "features", "synth", "audit", "model", "outreach", "scoring", "publish", "evaluation",
          "jobs", "app", "notebooks", "flows", "cli")
#: What the library (everything but the command line and the flows) must never import.
LIBRARY_MUST_NOT_IMPORT = ("prefect", "typer", "riskstrat.flows", "riskstrat.cli")


@dataclass(frozen=True)
class Import:
    source: str       # the importing module
    target: str       # the imported module (riskstrat.* resolved to a module, or the top of a library)
    path: Path
    line: int
    in_function: bool
    commented: bool   # a comment on the line or just above says why


def _module_files() -> dict[str, Path]:
    files = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    # folders of declarations, packages only so that they ship in the wheel
    files["riskstrat.data_contracts"] = REPO / "data_contracts" / "__init__.py"
    files["riskstrat.model_specs"] = REPO / "models" / "__init__.py"
    # the notebooks ship for `riskstrat audit`; they run in a kernel, nothing imports them
    files["riskstrat.notebooks"] = REPO / "notebooks" / "__init__.py"
    for path in sorted((REPO / "flows").glob("*.py")):
        name = "riskstrat.flows" if path.stem == "__init__" else f"riskstrat.flows.{path.stem}"
        files[name] = path
    return files


MODULES = _module_files()


def _resolve(name: str, imported: str | None = None) -> str:
    """The riskstrat module an import names: ``from a.b import c`` is ``a.b.c`` when that is a module."""
    if imported and f"{name}.{imported}" in MODULES:
        return f"{name}.{imported}"
    return name


def _imports(module: str, path: Path) -> list[Import]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def in_function(node: ast.AST) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return True
        return False

    def commented(line: int) -> bool:
        here = lines[line - 1]
        above = [lines[i].strip() for i in range(max(0, line - 4), line - 1)]
        return "#" in here or any(a.startswith("#") for a in above)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [_resolve(node.module, alias.name) for alias in node.names]
        else:
            continue
        for target in targets:
            found.append(Import(module, target, path, node.lineno, in_function(node), commented(node.lineno)))
    return found


IMPORTS = [i for module, path in MODULES.items() for i in _imports(module, path)]
INTERNAL = [i for i in IMPORTS if i.target == "riskstrat" or i.target.startswith("riskstrat.")]


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "core"  # riskstrat/__init__ holds only the version


def _where(i: Import) -> str:
    return f"{i.path.relative_to(REPO)}:{i.line} imports {i.target}"


def test_every_module_belongs_to_a_stage():
    assert {_stage(m) for m in MODULES} <= set(STAGES)


def test_imports_run_one_way_from_later_stages_to_earlier_ones():
    backwards = [_where(i) for i in INTERNAL
                 if STAGES.index(_stage(i.target)) > STAGES.index(_stage(i.source))]
    assert not backwards, "an earlier stage imports a later one:\n" + "\n".join(backwards)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in INTERNAL:
        if i.target not in MODULES:
            continue
        # importing a.b.c runs the package a.b first, unless the importer is inside a.b already
        parts = i.target.split(".")
        for k in range(2, len(parts) + 1):
            node = ".".join(parts[:k])
            if node in MODULES and not (i.source + ".").startswith(node + ".") and node != i.source:
                graph[i.source].add(node)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_riskstrat_import_hides_inside_a_function():
    hidden = [_where(i) for i in INTERNAL if i.in_function and _stage(i.source) != "cli"]
    assert not hidden, "imports inside functions (import at the top; a cycle means a module is misplaced):\n" + "\n".join(hidden)


def test_every_late_import_of_a_library_says_why():
    silent = [_where(i) for i in IMPORTS if i.in_function and not i.commented]
    assert not silent, "imports inside functions without a comment saying why:\n" + "\n".join(silent)


def test_the_library_never_imports_prefect_typer_the_flows_or_the_cli():
    library = [i for i in IMPORTS if _stage(i.source) not in ("flows", "cli")]
    bad = [_where(i) for i in library
           if any(i.target == name or i.target.startswith(name + ".") for name in LIBRARY_MUST_NOT_IMPORT)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_finds_files_by_the_source_tree_or_edits_sys_path(module):
    text = MODULES[module].read_text(encoding="utf-8")
    assert "__file__" not in text, f"{MODULES[module]}: finds files relative to the source tree; use importlib.resources"
    assert "sys.path" not in text, f"{MODULES[module]}: edits sys.path"


def test_every_package_is_shipped_in_the_wheel():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages == set(config["packages"])
    assert config["package-dir"]["riskstrat.flows"] == "flows"
    assert config["package-dir"]["riskstrat.data_contracts"] == "data_contracts"
    assert config["package-dir"]["riskstrat.model_specs"] == "models"
    assert config["package-dir"]["riskstrat.notebooks"] == "notebooks"
