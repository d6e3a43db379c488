"""The package's house: its imports (at the top of a module and inside functions alike) form no circle and
never reach up a layer, and only the engine imports a numerics framework. Read from the source, so it
holds for code paths no other test runs."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dreamvid"

# Top to bottom: a module may import its own layer's modules and those of the layers below, never above.
LAYERS = (
    ("entry", "__main__"),
    ("cli",),
    ("__init__", "api"),
    ("preview",),
    ("jobs",),
    ("stills", "temporal"),
    ("journal", "outputs"),
    ("engine",),
    ("score", "memory"),
    ("settings",),
    ("io",),
    ("job", "sidecar", "schedule", "expressions"),
    ("flow", "hold", "imageops", "colours", "atomic", "interrupts", "errors", "progress", "coherence"),
)
FRAMEWORKS = {"tensorflow", "keras", "jax", "jaxlib", "torch"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> set[str]:
    """Every module this file imports, resolved to full names; what sits under `if TYPE_CHECKING:` (read by
    type checkers alone) is left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                for alias in child.names:  # `from . import atomic` imports a module, not the package's face
                    submodule = PACKAGE.parent / (module + "." + alias.name).replace(".", "/")
                    if submodule.with_suffix(".py").exists() or (submodule / "__init__.py").exists():
                        found.add(f"{module}.{alias.name}")
                    else:
                        found.add(module)
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in _imports(path) if target in modules and target != name}
            for name, path in modules.items()}


def _layer(module: str) -> int:
    parts = module.split(".")[1:] or ["__init__"]
    for index, layer in enumerate(LAYERS):
        if parts[0] in layer:
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_layout.py: give it one")


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_imports_form_no_circle():
    assert _circles(_graph()) == []


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{module} -> {target}" for module, targets in sorted(_graph().items()) for target in sorted(targets)
              if _layer(target) < _layer(module)]
    assert upward == []


def test_only_the_engine_imports_a_numerics_framework():
    offenders = [f"{_module_name(path)} imports {sorted(frameworks)}" for path in sorted(PACKAGE.rglob("*.py"))
                 if not _module_name(path).startswith("dreamvid.engine")
                 and (frameworks := {name.split(".")[0] for name in _imports(path)} & FRAMEWORKS)]
    assert offenders == []


def test_the_checks_see_an_import_inside_a_function(tmp_path):
    """The reader of imports must see what a function imports, or a circle hidden there would pass."""
    module = PACKAGE / "api.py"
    assert "dreamvid.temporal.run" in _imports(module)  # imported inside _run_job only
