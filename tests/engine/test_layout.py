"""The package's folders import only downwards: ui > evaluation > explore > render > training > families, data > core.

Every import counts, deferred ones inside functions too: a folder that needs something from above it has the
layering wrong (move the shared piece down, or hand it in as a callback).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gan_demo"
LEVELS = {  # a folder may import its own modules and any folder of a lower level; equal levels do not see each other
    "core": 0,
    "data": 1,
    "families": 1,
    "training": 2,
    "render": 3,
    "explore": 4,
    "evaluation": 5,
    "ui": 6,
    "__main__": 7,  # the CLI, like the UI, sits on top
}


def folder_of(module: str) -> str | None:
    """'gan_demo.ui.tabs.train' -> 'ui'; 'gan_demo' or a name outside the package -> None."""
    parts = module.split(".")
    if parts[0] != "gan_demo" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every gan_demo import in a file, relative ones resolved."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(rel.parts)
    package = here if here[-1] == "__init__" else here[:-1]
    if package[-1] == "__init__":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "gan_demo":  # from gan_demo import x: x is the module
                found += [(node.lineno, f"gan_demo.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in found if m.startswith("gan_demo.")]


def test_every_module_sits_in_a_known_folder():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert not loose, f"modules outside a folder by concern: {loose}"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(LEVELS), f"folders without a level in this test: {folders - set(LEVELS)}"


def upward_imports() -> list[str]:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        mine = "__main__" if rel.name == "__main__.py" and len(rel.parts) == 1 else rel.parts[0]
        if mine not in LEVELS:
            continue
        for line, module in imports_of(path):
            theirs = folder_of(module)
            if theirs is None or theirs == mine:
                continue
            if theirs not in LEVELS or LEVELS[theirs] >= LEVELS[mine]:
                wrong.append(f"gan_demo/{rel}:{line} ({mine}) imports {module} ({theirs})")
    return wrong


def test_folders_import_only_downwards():
    wrong = upward_imports()
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_the_engine_never_imports_gradio():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "ui":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "gradio" for n in names), f"gan_demo/{rel} imports gradio"


@pytest.mark.parametrize("source, expected", [
    ("from ..core.config import RunConfig\n", "gan_demo.core.config"),
    ("from gan_demo.ui import app\n", "gan_demo.ui"),
])
def test_the_reader_resolves_imports(tmp_path, source, expected, monkeypatch):
    """The check itself can fail: a relative and an absolute import are both read."""
    target = PACKAGE / "training" / "_layout_probe.py"
    target.write_text(source)
    try:
        assert [m for _, m in imports_of(target)] == [expected]
        if expected == "gan_demo.ui":
            assert any("_layout_probe" in w for w in upward_imports())
    finally:
        target.unlink()


TABS = PACKAGE / "ui" / "tabs"


def tab_imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ui/tabs module a file imports, `from gan_demo.ui.tabs import x` read as tabs.x."""
    found = []
    for line, module in imports_of(path):
        if module == "gan_demo.ui.tabs":
            node = next(n for n in ast.walk(ast.parse(path.read_text()))
                        if isinstance(n, ast.ImportFrom) and n.lineno == line)
            found += [(line, f"gan_demo.ui.tabs.{a.name}") for a in node.names]
        elif module.startswith("gan_demo.ui.tabs."):
            found.append((line, module))
    return found


def tabs_importing_tabs() -> list[str]:
    return [f"gan_demo/ui/tabs/{path.name}:{line} imports {module}"
            for path in sorted(TABS.glob("*.py")) for line, module in tab_imports_of(path)]


def test_no_tab_imports_another_tab():
    """A tab is a handler class plus its layout; what two tabs share lives in ui/ (forms, widgets, run_views,
    lab_views), and the app wires one tab to another."""
    wrong = tabs_importing_tabs()
    assert not wrong, "tabs that import other tabs:\n" + "\n".join(wrong)


@pytest.mark.parametrize("source", ["from gan_demo.ui.tabs import train\n", "from ..tabs.train import build\n",
                                    "import gan_demo.ui.tabs.compare\n"])
def test_the_tab_check_sees_each_way_of_importing(source):
    """The check itself can fail: a probe tab importing a tab in each way is reported."""
    target = TABS / "_tabs_probe.py"
    target.write_text(source)
    try:
        assert any("_tabs_probe" in w for w in tabs_importing_tabs())
    finally:
        target.unlink()
