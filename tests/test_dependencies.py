"""Every package the service imports is declared in pyproject.toml (the clip extra for the PyTorch path), with
a lower and an upper bound, and constraints.txt pins every declared package."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"registry", "matcher", "service", "api"}
EXTRA_ONLY = {"matcher/image/embed_torch.py"}  # imported only when an open_clip or torch embedder is configured


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found - PROJECT - set(sys.stdlib_module_names) - {"__future__"}


def test_every_imported_package_is_declared_with_bounds() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r): r for r in meta["dependencies"]}
    clip = {_name(r): r for r in meta["optional-dependencies"]["clip"]}
    owners = packages_distributions()
    missing = []
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*.py")):
            declared = {**runtime, **clip} if str(path.relative_to(ROOT)) in EXTRA_ONLY else runtime
            for module in _imports(path):
                dists = {d.lower().replace("_", "-") for d in owners.get(module, [module])}
                if not dists & set(declared):
                    missing.append(f"{path.relative_to(ROOT)} imports {module} ({', '.join(sorted(dists))})")
    assert missing == []
    for name, requirement in {**runtime, **clip}.items():
        assert ("<" in requirement or "==" in requirement) and (">=" in requirement or "==" in requirement), name


def test_constraints_pin_every_declared_package() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    declared = [*meta["dependencies"], *meta["optional-dependencies"]["clip"], *meta["optional-dependencies"]["dev"]]
    assert sorted(_name(r) for r in declared if _name(r) not in pinned) == []
