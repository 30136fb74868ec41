"""trio-core's layout (docs/design.md, "Inside trio-core"): a small top level, four wings, arrows one way.

- The top level holds at most 25 modules: the plugin kernel and the engine. Anything else has a folder.
- ``import trio_core`` loads no ML framework and no web framework.
- The wings point one way: the top level imports no wing (but the SDK's ``watch()``, which
  hands over to the watch wing's front door); the watch wing knows no terminal and no HTTP;
  the server knows no CLI.
- Product code never imports the bench or the testing helpers: only the bench and tests do
  (a plugin's ``bench.py``, ``*_bench.py`` or ``testing.py`` count as bench and testing code).
- ``trio --help`` imports none of the benchmarks and nothing of the server.

Imports are read with ``ast``, all of them (inside functions and under ``TYPE_CHECKING`` too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "trio_core" / "src" / "trio_core"
WINGS = ("watch", "cli", "bench", "testing", "server")
# The top level's one way into a wing: TrioCore.watch() builds a watch through the watch wing's front door.
TOP_LEVEL_INTO_WINGS = {("sdk.py", "trio_core.watch")}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` (a module under some distribution's ``src/``) imports, absolute (relative imports
    resolved against its package)."""
    src = next(parent for parent in path.parents if parent.name == "src")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # trio_core/watch/engine.py is ("trio_core", "watch", "engine"); an __init__.py ends in "__init__":
                # either way, dropping `level` parts leaves the package the import is relative to.
                parts = list(path.relative_to(src).with_suffix("").parts)
                base = parts[: len(parts) - node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def wing_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "trio_core" and parts[1] in WINGS else None


def core_files() -> list[Path]:
    return [
        path for path in CORE.rglob("*.py") if not path.read_text(encoding="utf-8").startswith("#!/usr/bin/python3")
    ]


def test_the_top_level_holds_at_most_25_modules():
    modules = sorted(path.name for path in CORE.glob("*.py"))
    assert len(modules) <= 25, f"trio_core's top level has {len(modules)} modules: give the newest a wing ({modules})"


def test_importing_trio_core_loads_no_framework():
    code = "import sys, trio_core; print(','.join(sorted(m for m in ('torch', 'transformers', 'mlx', 'fastapi') if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_the_wings_point_one_way():
    wrong = []
    for path in core_files():
        relative = path.relative_to(CORE)
        own = relative.parts[0] if len(relative.parts) > 1 else None
        for module in imports_of(path):
            wing = wing_of(module)
            if wing is None or wing == own:
                continue
            if own is None and (relative.name, f"trio_core.{wing}") not in TOP_LEVEL_INTO_WINGS:
                wrong.append(f"{relative} (the top level) imports {module}")
            elif own == "watch" and wing in ("cli", "server"):
                wrong.append(f"{relative} (the watch wing) imports {module}: the front ends use the wing, not back")
            elif own == "server" and wing == "cli":
                wrong.append(f"{relative} (the server) imports {module}")
    assert not wrong, "\n".join(sorted(wrong))


def test_product_code_never_imports_the_bench_or_the_testing_helpers():
    def is_bench_or_testing(path: Path) -> bool:
        relative = path.relative_to(ROOT).parts
        return (
            relative[:4] in (("trio_core", "src", "trio_core", "bench"), ("trio_core", "src", "trio_core", "testing"))
            or path.name in ("bench.py", "testing.py")
            or path.stem.endswith("_bench")
        )

    wrong = []
    for path in ROOT.glob("trio_*/src/**/*.py"):
        if is_bench_or_testing(path) or path.read_text(encoding="utf-8").startswith("#!/usr/bin/python3"):
            continue
        for module in imports_of(path):
            if wing_of(module) in ("bench", "testing"):
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(sorted(wrong))


def test_trio_help_imports_no_benchmark_and_nothing_of_the_server():
    code = (
        "import sys\n"
        "sys.argv = ['trio', '--help']\n"
        "from trio_core.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('trio_core.'))), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = result.stderr.split()
    assert "Commands:" in result.stdout
    heavy = [m for m in loaded if m.startswith(("trio_core.server", "trio_core.watch"))]
    benches = [m for m in loaded if m.startswith("trio_core.bench.") and m != "trio_core.bench.harness"]
    assert not heavy and not benches, f"trio --help imported {heavy + benches}"
