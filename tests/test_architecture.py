"""The layers hold: imports run downwards only, faces never touch a store, the blob store or an index, and a
command that only reads the store never loads a model."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"registry": 0, "matcher": 1, "service": 2, "api": 3}
STORES = {"registry.store", "registry.sql_store", "registry.sql_base", "registry.sql_claims", "registry.sql_licensing",
          "registry.sqlite_store",
          "registry.postgres_store",
          "registry.blobs"}


def _modules(package: str) -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found.append((name, ast.parse(path.read_text(), str(path))))
    return found


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] in LAYERS}


def test_imports_run_downwards_only() -> None:
    upward = []
    for package, layer in LAYERS.items():
        for module, tree in _modules(package):
            for imported in _imports(tree):
                if LAYERS[imported.split(".")[0]] > layer:
                    upward.append(f"{module} imports {imported}")
    assert upward == []


def test_the_kernel_and_the_matchers_do_not_import_the_stores() -> None:
    found = []
    for package in ("registry", "matcher"):
        for module, tree in _modules(package):
            if module in STORES or module == "registry.audit":
                continue
            found += [f"{module} imports {i}" for i in _imports(tree) if i in STORES]
    assert found == []


def test_faces_call_the_use_cases_only() -> None:
    """No module under api/ imports a store or the blob store, or reaches for the service's store, blob
    store or indexes."""
    found = []
    for module, tree in _modules("api"):
        found += [f"{module} imports {i}" for i in _imports(tree) if i in STORES or i.startswith("matcher.")]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"store", "blobs", "matchers"}:
                found.append(f"{module}:{node.lineno} uses .{node.attr}")
    assert found == []


def test_a_store_only_command_loads_no_model(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from api.cli import app\n"
        f"d = ['--data-dir', {str(tmp_path)!r}]\n"
        "r = CliRunner().invoke(app, ['keys', 'create', '--role', 'admin', '--name', 'root', *d])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(app, ['keys', 'list', *d])\n"
        "assert r.exit_code == 0 and 'root' in r.output, r.output\n"
        "heavy = sorted(m for m in ('torch', 'faiss', 'cv2', 'timm', 'open_clip', 'onnxruntime', 'litestar')\n"
        "               if m in sys.modules)\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
