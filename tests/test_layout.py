"""The folder tree shows the architecture, and imports keep to it (read from the source, statically).

- the shared model (``groupmigrate/*.py``) imports neither the core, the backends, the front
  doors nor the testing kit;
- the core imports no backend, front door or testing kit;
- a backend imports no other backend and no front door;
- exchangelib is imported only in ``backends/ews`` and ``testing/ews``;
- module-level imports form no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "groupmigrate"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULE_NAMES = {_module(p) for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, module_level: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    nodes = tree.body if module_level else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULE_NAMES
            found.update(submodules)  # ``from pkg import submodule`` imports the submodule
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}
# deprecated aliases at the old module paths re-export the moved modules
ALIASES = {"groupmigrate.migrator", "groupmigrate.state", "groupmigrate.report", "groupmigrate.dedup",
           "groupmigrate.sanitize", "groupmigrate.config", "groupmigrate.notify"}  # fmt: skip


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] not in ("core", "backends", "frontdoors", "testing", "celery")):
        return "model"
    return parts[1]


def test_layers_import_only_downwards() -> None:
    allowed = {
        "model": {"model"},
        "core": {"model", "core"},
        "backends": {"model", "core", "backends"},
        "frontdoors": {"model", "core", "backends", "frontdoors", "testing", "celery"},
        "testing": {"model", "core", "backends", "testing"},
        # many workers: a front door of its own, reading the same configuration files
        "celery": {"model", "core", "frontdoors", "celery"},
    }
    problems = []
    for module, path in MODULES.items():
        if module in ALIASES or module == "groupmigrate":
            continue  # the package root re-exports the public API, lazily for backends
        for imported in _imports(path, module_level=False):
            if imported.startswith("groupmigrate") and imported in MODULES:
                if _layer(imported) not in allowed[_layer(module)]:
                    problems.append(f"{module} imports {imported}")
                if _layer(module) == "backends" and imported.split(".")[:3] != module.split(".")[:3] \
                        and _layer(imported) == "backends" and imported != "groupmigrate.backends":
                    problems.append(f"{module} imports another backend: {imported}")
    assert problems == []


def test_exchangelib_stays_in_the_ews_backend_and_its_test_server() -> None:
    problems = [
        module for module, path in MODULES.items()
        if any(i.split(".")[0] == "exchangelib" for i in _imports(path, module_level=False))
        and not module.startswith(("groupmigrate.backends.ews", "groupmigrate.testing.ews"))
    ]  # fmt: skip
    assert problems == []


def test_server_libraries_stay_in_their_backends() -> None:
    """lxml parses EWS and WebDAV answers; iCalendar and vCard libraries belong to the DAV backend."""
    homes = {
        "lxml": ("groupmigrate.backends.ews", "groupmigrate.testing.ews", "groupmigrate.backends.dav"),
        "icalendar": ("groupmigrate.backends.dav",),
        "vobject": ("groupmigrate.backends.dav",),
        "imapclient": ("groupmigrate.backends.imap", "groupmigrate.testing.dovecot", "groupmigrate.frontdoors.demo_sides"),
    }
    problems = [
        f"{module} imports {library}" for module, path in MODULES.items()
        for library, allowed in homes.items()
        if any(i.split(".")[0] == library for i in _imports(path, module_level=False)) and not module.startswith(allowed)
    ]  # fmt: skip
    assert problems == []


def test_no_import_cycles_at_module_level() -> None:
    graph = {
        m: {i for i in _imports(p, module_level=True) if i in MODULES and i != m}
        for m, p in MODULES.items()
    }
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if seen.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    # a package importing its own submodules (re-exports) is not a cycle between modules
    real = [c for c in cycles if not all(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert real == []
