"""The dependency rule of the architecture guide: which way the imports of every distribution point.

The rule, made precise from the project's own metadata (each ``trio_*/pyproject.toml``, and
the installed metadata of everything they require):

- A module may import the standard library, its own package, and what the distributions in
  the dependency closure of what it is allowed provide. For a *top-level* module of a
  distribution (any module not inside an extra's subpackage) that is the closure of its base
  dependencies; for a module under ``<package>/<extra>/`` (``trio_opt_tome/torch/`` with an
  extra ``torch``, ``trio_model_tiny/train/`` with an extra ``train``) it is the closure of the
  base dependencies plus that extra. A ``pytest11`` entry-point module may import pytest too.
- Plugins depend on trio-core, never on each other: a base dependency of a plugin on another
  trio plugin is an error (in the pyproject) and grants nothing. Only a backend
  (``trio-backend-*``) may pull in an ML framework through its base dependencies; trio-core
  pulls in neither. The other plugins reach those through extras.
- A top-level module never imports its own extras' subpackages (the core loads them by name
  when a model of that backend loads), and a ``trio`` entry point is a top-level module.
- trio_core imports no trio plugin and no ML framework.
- Code under ``<plugin>/<backend>/`` never imports another backend's framework or backend
  distribution (``torch/`` importing mlx or trio_backend_mlx).
- A file whose first line is ``#!/usr/bin/python3`` is a script for the system's interpreter
  (``trio_core/testing/rtsp_camera_gst.py`` runs GStreamer there, whose bindings no virtual environment
  has): the distribution runs it as a program and never imports it, so its imports are that
  interpreter's; importing it from anywhere is an error.

Imports are read with ``ast``, all of them: inside functions too (a lazy import still is a
dependency) and under ``if TYPE_CHECKING`` (kept strict on purpose: it is simple, and no
descriptor needs a framework's types). The checker lives here, not in the product: it is a
test of the project.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

# Import names of the ML frameworks: trio_core never imports them, and only a backend may
# depend on them through its base dependencies.
ML_FRAMEWORKS = frozenset(
    {"torch", "torchvision", "torchaudio", "triton", "transformers", "accelerate", "mlx", "mlx_lm", "mlx_vlm"}
    | {"jax", "jaxlib", "tensorflow"}
)
# Distribution names of the same (normalized).
ML_FRAMEWORK_DISTRIBUTIONS = frozenset(
    {"torch", "torchvision", "torchaudio", "triton", "transformers", "accelerate", "mlx", "mlx-lm", "mlx-vlm"}
    | {"mlx-metal", "jax", "jaxlib", "tensorflow"}
)
# What code under one backend's subpackage must not import when it is another backend's
# (beside that backend's own distribution, trio_backend_<name>). transformers is missing on
# purpose: mlx-vlm uses its processors too.
BACKEND_FRAMEWORKS = {
    "torch": frozenset({"torch", "torchvision", "torchaudio", "triton"}),
    "mlx": frozenset({"mlx", "mlx_lm", "mlx_vlm"}),
    "openai": frozenset(),
}
# Distributions of the trio family that are not in this checkout (trio-backend-mlx, ...).
TRIO_PLUGIN_NAME = re.compile(r"^trio[-_](backend|opt|model|source|sink|eval)[-_]")
CORE = "trio-core"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- the distributions of the workspace ---------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One distribution of the checkout, as its pyproject.toml declares it."""

    name: str
    folder: Path
    pyproject: Path
    packages: tuple[Path, ...]
    dependencies: tuple[str, ...]
    extras: dict[str, tuple[str, ...]]
    entry_points: dict[str, dict[str, str]]

    @property
    def key(self) -> str:
        return normalize(self.name)

    @property
    def import_names(self) -> tuple[str, ...]:
        return tuple(package.name for package in self.packages)

    @property
    def is_core(self) -> bool:
        return self.key == CORE

    @property
    def is_backend(self) -> bool:
        return self.key.startswith("trio-backend-")

    def section_of(self, path: Path) -> str | None:
        """The extra whose subpackage holds ``path``, or None for a top-level module."""
        for package in self.packages:
            if path.is_relative_to(package):
                parts = path.relative_to(package).parts
                if len(parts) > 1 and parts[0] in self.extras:
                    return parts[0]
        return None

    def extra_subpackages(self) -> dict[str, str]:
        """Dotted name of each extra's subpackage that exists -> the extra."""
        return {
            f"{package.name}.{extra}": extra
            for package in self.packages
            for extra in self.extras
            if (package / extra).is_dir() or (package / f"{extra}.py").is_file()
        }


def read_workspace(root: Path) -> dict[str, Member]:
    """Every ``trio_*/pyproject.toml`` at ``root``, by normalized project name."""
    found = {}
    for pyproject in sorted(root.glob("trio_*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        project = data["project"]
        folder = pyproject.parent
        wheel = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
        packages = wheel.get("packages") or [f"src/{normalize(project['name']).replace('-', '_')}"]
        dist = Member(
            name=project["name"],
            folder=folder,
            pyproject=pyproject,
            packages=tuple(folder / package for package in packages),
            dependencies=tuple(project.get("dependencies", ())),
            extras={extra: tuple(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()},
            entry_points={group: dict(points) for group, points in project.get("entry-points", {}).items()},
        )
        found[dist.key] = dist
    return found


# --- dependency closures --------------------------------------------------------------------


@dataclass
class Closure:
    """The distributions a set of requirements brings in, and the ones it was not allowed to."""

    names: set[str] = field(default_factory=set)
    # refused requirement -> the chain of distributions that asked for it
    refused: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Environment:
    """Requirements and import names: the workspace's pyproject files first (an editable install's
    metadata goes stale when a pyproject changes), then the installed metadata."""

    def __init__(self, workspace: dict[str, Member]):
        self.workspace = workspace
        self.import_map: dict[str, set[str]] = {}
        for top, dists in importlib.metadata.packages_distributions().items():
            self.import_map.setdefault(top, set()).update(normalize(d) for d in dists)
        for dist in workspace.values():
            for top in dist.import_names:
                self.import_map.setdefault(top, set()).add(dist.key)
        self.plugin_distributions = {key for key, dist in workspace.items() if not dist.is_core}
        for installed in importlib.metadata.distributions():
            if any(point.group == "trio" for point in installed.entry_points):
                self.plugin_distributions.add(normalize(installed.metadata["Name"]))
        self.plugin_distributions -= {CORE}

    def is_plugin(self, name: str) -> bool:
        name = normalize(name)
        return name in self.plugin_distributions or bool(TRIO_PLUGIN_NAME.match(name))

    def is_plugin_import(self, top: str) -> bool:
        return top != "trio_core" and (any(self.is_plugin(d) for d in self.providers(top)) or self.is_plugin(top))

    def providers(self, top: str) -> set[str]:
        """The distributions that may provide the import name ``top`` (a distribution that is not
        installed is taken to provide its own name, ``mlx-vlm`` -> ``mlx_vlm``)."""
        return self.import_map.get(top, set()) | {normalize(top)}

    def requires(self, name: str, extras: Iterable[str] = ()) -> list[Requirement]:
        """What the distribution ``name`` requires with ``extras``, markers evaluated here."""
        extras = set(extras)
        dist = self.workspace.get(normalize(name))
        if dist is not None:
            lines = list(dist.dependencies)
            for extra in extras & set(dist.extras):
                lines += dist.extras[extra]
            return [req for req in map(Requirement, lines) if _applies(req, {""})]
        try:
            lines = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            return []
        return [req for req in map(Requirement, lines) if _applies(req, {""} | extras)]

    def closure(self, roots: Iterable[Requirement], refuse: Callable[[str], bool] = lambda name: False) -> Closure:
        """Every distribution ``roots`` bring in, transitively; one that ``refuse`` says no to is
        recorded with its chain and not followed."""
        result = Closure()
        todo = [(req, ()) for req in roots]
        seen: set[tuple[str, frozenset[str]]] = set()
        while todo:
            req, chain = todo.pop()
            name = normalize(req.name)
            if refuse(name):
                result.refused.setdefault(name, chain)
                continue
            if (name, frozenset(req.extras)) in seen:
                continue
            seen.add((name, frozenset(req.extras)))
            result.names.add(name)
            todo += [(sub, (*chain, name)) for sub in self.requires(name, req.extras)]
        return result


def _applies(req: Requirement, extras: set[str]) -> bool:
    return req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in extras)


# --- imports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    line: int
    statement: str
    targets: tuple[str, ...]  # absolute dotted names; for ``from a import b`` also ``a.b``


def is_system_script(path: Path) -> bool:
    with path.open("rb") as file:
        return file.readline().rstrip() == b"#!/usr/bin/python3"


def module_name(path: Path, package: Path) -> tuple[str, bool]:
    """The dotted name of the module in ``path``, and whether it is a package's ``__init__``."""
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imports_of(path: Path, package: Path) -> Iterator[Import]:
    """Every import statement of the file, anywhere in it, with relative imports made absolute."""
    name, is_package = module_name(path, package)
    here = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield Import(node.lineno, ast.unparse(node), tuple(alias.name for alias in node.names))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            subs = tuple(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
            yield Import(node.lineno, ast.unparse(node), (module, *subs))


# --- the rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    file: str  # relative to the checked root
    line: int
    statement: str
    rule: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.statement}\n    {self.rule}"


class Checker:
    """Checks every distribution of a checkout against the dependency rule."""

    def __init__(self, root: Path):
        self.root = root
        self.workspace = read_workspace(root)
        self.env = Environment(self.workspace)

    def refuse_in_base(self, dist: Member) -> Callable[[str], bool]:
        """What the base dependencies of ``dist`` may not bring in: another trio plugin, and an ML
        framework unless ``dist`` is a backend."""

        def refuse(name: str) -> bool:
            if name != dist.key and self.env.is_plugin(name):
                return True
            return not dist.is_backend and name in ML_FRAMEWORK_DISTRIBUTIONS

        return refuse

    @functools.cache  # noqa: B019 - one checker per test
    def base(self, key: str) -> Closure:
        dist = self.workspace[key]
        return self.env.closure(map(Requirement, dist.dependencies), self.refuse_in_base(dist))

    @functools.cache  # noqa: B019
    def allowed(self, key: str, section: str | None) -> frozenset[str]:
        names = set(self.base(key).names)
        if section is not None:
            names |= self.env.closure(map(Requirement, self.workspace[key].extras[section])).names
        return frozenset(names)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def check(self) -> list[Violation]:
        found = []
        for dist in self.workspace.values():
            found += self.check_metadata(dist)
            for package in dist.packages:
                for path in sorted(package.rglob("*.py")):
                    if is_system_script(path):
                        continue
                    found += self.check_module(dist, package, path)
        return found

    def check_metadata(self, dist: Member) -> list[Violation]:
        found = []
        what = "trio-core" if dist.is_core else "a plugin"
        for name, chain in sorted(self.base(dist.key).refused.items()):
            through = f" (through {' -> '.join(chain)})" if chain else ""
            if self.env.is_plugin(name):
                rule = (
                    f"{dist.name}'s base dependencies bring in {name}{through}, another trio plugin: {what} "
                    f"depends on trio-core, never on another plugin; put it in an extra named for its backend, "
                    f'e.g. [project.optional-dependencies] torch = ["{name}>=0.1.0"].'
                )
            else:
                rule = (
                    f"{dist.name}'s base dependencies bring in {name}{through}, an ML framework: only a backend "
                    f"(trio-backend-*) may; put it in an extra named for the backend that needs it."
                )
            found.append(Violation(self.relative(dist.pyproject), 0, f"dependency on {name}", rule))
        subpackages = dist.extra_subpackages()
        for point, value in sorted(dist.entry_points.get("trio", {}).items()):
            module = value.partition(":")[0].strip()
            inside = [sub for sub in subpackages if module == sub or module.startswith(sub + ".")]
            if inside:
                found.append(
                    Violation(
                        self.relative(dist.pyproject),
                        0,
                        f'[project.entry-points.trio] {point} = "{value}"',
                        f"a trio entry point must be a top-level module: {inside[0]} is installed only with "
                        f"{dist.name}[{subpackages[inside[0]]}], so the plugin would not load without that extra.",
                    )
                )
        return found

    @functools.cache  # noqa: B019
    def system_scripts(self) -> frozenset[str]:
        """The module names of the workspace's scripts for the system's Python."""
        return frozenset(
            module_name(path, package)[0]
            for dist in self.workspace.values()
            for package in dist.packages
            for path in package.rglob("*.py")
            if is_system_script(path)
        )

    def check_module(self, dist: Member, package: Path, path: Path) -> list[Violation]:
        section = dist.section_of(path)
        name, _ = module_name(path, package)
        pytest_plugin = any(
            value.partition(":")[0].strip() == name for value in dist.entry_points.get("pytest11", {}).values()
        )
        found = []
        scripts = self.system_scripts()
        for imp in imports_of(path, package):
            script = next((target for target in imp.targets if target in scripts), None)
            if script is not None:
                rule = (
                    f"`{script}` is a script for the system's Python (its first line says so): run it, never import it."
                )
                found.append(Violation(self.relative(path), imp.line, imp.statement, rule))
                continue
            rule = self.judge(dist, package, path, section, imp, pytest_plugin)
            if rule:
                found.append(Violation(self.relative(path), imp.line, imp.statement, rule))
        return found

    def judge(
        self, dist: Member, package: Path, path: Path, section: str | None, imp: Import, pytest_plugin: bool
    ) -> str | None:
        """Why ``imp`` breaks the rule, or None."""
        module = imp.targets[0]
        top = module.partition(".")[0]
        if top == "__future__" or top in sys.stdlib_module_names:
            return None
        subpackages = dist.extra_subpackages()
        if top in dist.import_names:
            for target in imp.targets:
                for sub, extra in subpackages.items():
                    if (target == sub or target.startswith(sub + ".")) and extra != section:
                        if section is None:
                            return (
                                f"a top-level module of {dist.name} must not import its `{extra}` subpackage "
                                f"`{sub}`: it is installed only with {dist.name}[{extra}]; the core loads it "
                                f"by name when it is needed."
                            )
                        return (
                            f"code under {package.name}/{section}/ must not import `{sub}`: that is the `{extra}` "
                            f"extra's subpackage, which {dist.name}[{section}] does not install."
                        )
            return None
        if dist.is_core:
            if self.env.is_plugin_import(top):
                return f"trio_core imports no trio plugin: `{top}` is one; reach plugins through the hooks."
            if top in ML_FRAMEWORKS:
                return f"trio_core imports no ML framework: `{top}` is one; that code belongs in a backend plugin."
        if not dist.is_core and section is None and self.env.is_plugin_import(top):
            return (
                f"a top-level module of {dist.name} imports no other trio plugin: `{top}` is one (plugins depend "
                f"on trio-core only).{self.placement_hint(dist, package, path, top)}"
            )
        if section in BACKEND_FRAMEWORKS:
            for other, frameworks in BACKEND_FRAMEWORKS.items():
                if other != section and (top in frameworks or top == f"trio_backend_{other}"):
                    return (
                        f"code under {package.name}/{section}/ is for the {section} backend and never imports "
                        f"another backend: `{top}` belongs to the {other} backend (its place is "
                        f"{package.name}/{other}/, with a `{other}` extra)."
                    )
        if pytest_plugin and top in {"pytest", "_pytest"}:
            return None
        providers = self.env.providers(top)
        if providers & self.allowed(dist.key, section):
            return None
        return self.not_provided(dist, package, path, section, top, providers)

    def not_provided(
        self, dist: Member, package: Path, path: Path, section: str | None, top: str, providers: set[str]
    ) -> str:
        base = ", ".join(Requirement(line).name for line in dist.dependencies) or "none"
        if section is None:
            whom = "a module of trio-core" if dist.is_core else f"a top-level module of {dist.name}"
            what = f"what {dist.name}'s base dependencies provide ({base})"
        else:
            whom = f"a module under {package.name}/{section}/"
            what = f"what {dist.name}'s base dependencies and its `{section}` extra provide"
        rule = (
            f"{whom} may import only the standard library, {package.name} itself and {what}: `{top}` is not among them."
        )
        for name, chain in sorted(self.base(dist.key).refused.items()):
            if providers & self.env.closure([Requirement(name)]).names:
                rule += (
                    f" (It comes only through {chain[0] if chain else name}, a base dependency that is itself "
                    f"against the rule: see {self.relative(dist.pyproject)}.)"
                )
                break
        if section is None and not dist.is_core:
            rule += self.placement_hint(dist, package, path, top)
        return rule

    @staticmethod
    def placement_hint(dist: Member, package: Path, path: Path, top: str) -> str:
        """Where the code of a top-level module that imports ``top`` should live instead."""
        parts = path.relative_to(package).parts
        if len(parts) > 1:
            sub = parts[0]
            wants = f'"trio-backend-{sub}>=0.1.0", ...' if sub in BACKEND_FRAMEWORKS else "..."
            return (
                f" It is under {package.name}/{sub}/, but {dist.name} has no `{sub}` extra: declare one "
                f"([project.optional-dependencies] {sub} = [{wants}]) and the subpackage may use what it installs."
            )
        if top in ML_FRAMEWORKS or top.startswith("trio_backend_"):
            backend = backend_of(top)
            return f" Move that code into {package.name}/{backend}/, installed by the extra {dist.name}[{backend}]."
        return ""


def backend_of(top: str) -> str:
    """The backend an import name belongs to, or ``<backend>`` when it is nobody's in particular."""
    if top.startswith("trio_backend_"):
        return top.removeprefix("trio_backend_")
    return next((backend for backend, names in BACKEND_FRAMEWORKS.items() if top in names), "<backend>")


def report(violations: list[Violation]) -> str:
    heading = f"{len(violations)} import(s) or dependencies break the dependency rule (see this module's docstring):"
    return "\n".join([heading, *map(str, violations)])


# --- the project ---------------------------------------------------------------------------


def test_every_distribution_keeps_the_dependency_rule():
    checker = Checker(ROOT)
    assert {"trio-core"} <= set(checker.workspace), "no trio_core/pyproject.toml found at the repository root"
    violations = checker.check()
    assert not violations, report(violations)


# --- the checker itself, on tiny fake checkouts -----------------------------------------------


def write_distribution(root: Path, name: str, files: dict[str, str], dependencies=(), extras=None, entry_points=None):
    """A fake distribution ``root/<name>/`` with a pyproject.toml and ``src/<name>/`` modules."""
    package = name.replace("-", "_")
    folder = root / package
    lines = [
        "[project]",
        f'name = "{name}"',
        'version = "0.1.0"',
        f"dependencies = {list(dependencies)!r}".replace("'", '"'),
    ]
    if extras:
        lines.append("[project.optional-dependencies]")
        lines += [f"{extra} = {list(reqs)!r}".replace("'", '"') for extra, reqs in extras.items()]
    for group, points in (entry_points or {}).items():
        lines.append(f"[project.entry-points.{group}]")
        lines += [f'{point} = "{value}"' for point, value in points.items()]
    lines += ["[tool.hatch.build.targets.wheel]", f'packages = ["src/{package}"]']
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n")
    for relative, text in {"__init__.py": "", **files}.items():
        path = folder / "src" / package / relative
        if relative.endswith("/"):  # a subpackage
            path = path / "__init__.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def fake_checkout(root: Path, plugin_files: dict[str, str], extras=None, core_files=None, entry_points=None) -> Path:
    """trio-core (requiring pydantic), a torch backend and a fake optimizer plugin trio-opt-fake."""
    write_distribution(root, "trio-core", {"plugins.py": "import pydantic\n", **(core_files or {})}, ["pydantic>=2"])
    write_distribution(root, "trio-backend-torch", {"plugin.py": "import torch\n"}, ["trio-core", "torch>=2"])
    write_distribution(
        root,
        "trio-opt-fake",
        plugin_files,
        ["trio-core>=0.1.0"],
        extras,
        entry_points or {"trio": {"fake": "trio_opt_fake.plugin"}},
    )
    return root


def violations_of(root: Path) -> list[str]:
    return [str(violation) for violation in Checker(root).check()]


def test_a_plugin_top_level_module_importing_torch_fails_with_file_line_and_rule(tmp_path):
    fake_checkout(tmp_path, {"plugin.py": "from trio_core import plugins\n\n\ndef apply():\n    import torch\n"})

    assert violations_of(tmp_path) == [
        "trio_opt_fake/src/trio_opt_fake/plugin.py:5: import torch\n"
        "    a top-level module of trio-opt-fake may import only the standard library, trio_opt_fake itself "
        "and what trio-opt-fake's base dependencies provide (trio-core): `torch` is not among them. "
        "Move that code into trio_opt_fake/torch/, installed by the extra trio-opt-fake[torch]."
    ]


def test_torch_code_under_the_torch_subpackage_with_a_torch_extra_passes(tmp_path):
    fake_checkout(
        tmp_path,
        {
            "plugin.py": "import json\nfrom pydantic import Field\nfrom trio_core.plugins import x\n"
            "from . import merging\n",
            "merging.py": "import math\n",
            "torch/": "",
            "torch/hooks.py": "import torch\nfrom trio_backend_torch.plugin import y\nfrom ..merging import z\n"
            "from . import tower\n",
            "torch/tower.py": "import torch.nn.functional as F\n",
        },
        extras={"torch": ["trio-backend-torch>=0.1.0"]},
    )

    assert violations_of(tmp_path) == []


def test_torch_code_under_the_torch_subpackage_without_the_extra_fails(tmp_path):
    fake_checkout(tmp_path, {"torch/": "", "torch/hooks.py": "import torch\n"})

    (violation,) = violations_of(tmp_path)
    assert violation.startswith("trio_opt_fake/src/trio_opt_fake/torch/hooks.py:1: import torch\n")
    assert "`torch` is not among them" in violation
    assert "it is under trio_opt_fake/torch/, but trio-opt-fake has no `torch` extra" in violation.lower()


def test_torch_code_importing_mlx_fails(tmp_path):
    fake_checkout(
        tmp_path,
        {"torch/": "", "torch/hooks.py": "import torch\n\n\ndef f():\n    import mlx.core as mx\n"},
        extras={"torch": ["trio-backend-torch>=0.1.0", "mlx>=0.20"]},  # even when an extra asks for it
    )

    assert violations_of(tmp_path) == [
        "trio_opt_fake/src/trio_opt_fake/torch/hooks.py:5: import mlx.core as mx\n"
        "    code under trio_opt_fake/torch/ is for the torch backend and never imports another backend: "
        "`mlx` belongs to the mlx backend (its place is trio_opt_fake/mlx/, with a `mlx` extra)."
    ]


def test_torch_code_importing_the_mlx_backend_fails(tmp_path):
    fake_checkout(
        tmp_path, {"torch/": "", "torch/hooks.py": "from trio_backend_mlx import helpers\n"}, extras={"torch": []}
    )

    (violation,) = violations_of(tmp_path)
    assert "`trio_backend_mlx` belongs to the mlx backend" in violation


def test_trio_core_importing_a_plugin_or_a_framework_fails(tmp_path):
    fake_checkout(
        tmp_path,
        {"plugin.py": ""},
        core_files={"pipeline.py": "def run():\n    from trio_opt_fake.plugin import x\n    import transformers\n"},
    )

    assert violations_of(tmp_path) == [
        "trio_core/src/trio_core/pipeline.py:2: from trio_opt_fake.plugin import x\n"
        "    trio_core imports no trio plugin: `trio_opt_fake` is one; reach plugins through the hooks.",
        "trio_core/src/trio_core/pipeline.py:3: import transformers\n"
        "    trio_core imports no ML framework: `transformers` is one; that code belongs in a backend plugin.",
    ]


def test_a_top_level_module_importing_its_own_backend_subpackage_fails(tmp_path):
    fake_checkout(
        tmp_path,
        {"plugin.py": "def apply():\n    from .torch.hooks import Hook\n", "torch/": "", "torch/hooks.py": ""},
        extras={"torch": ["trio-backend-torch"]},
    )

    (violation,) = violations_of(tmp_path)
    assert violation.startswith("trio_opt_fake/src/trio_opt_fake/plugin.py:2: from .torch.hooks import Hook\n")
    assert "must not import its `torch` subpackage `trio_opt_fake.torch`" in violation


def test_a_base_dependency_on_another_plugin_fails_and_grants_nothing(tmp_path):
    fake_checkout(tmp_path, {"hooks.py": "import torch\nfrom trio_backend_torch import plugin\n"})
    pyproject = tmp_path / "trio_opt_fake" / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"trio-core>=0.1.0"', '"trio-core>=0.1.0", "trio-backend-torch"')
    )

    found = violations_of(tmp_path)

    assert found[0].startswith("trio_opt_fake/pyproject.toml: dependency on trio-backend-torch\n")
    assert "another trio plugin" in found[0]
    assert found[1].startswith("trio_opt_fake/src/trio_opt_fake/hooks.py:1: import torch\n")
    assert "(It comes only through trio-backend-torch, a base dependency that is itself against the rule" in found[1]
    assert found[2] == (
        "trio_opt_fake/src/trio_opt_fake/hooks.py:2: from trio_backend_torch import plugin\n"
        "    a top-level module of trio-opt-fake imports no other trio plugin: `trio_backend_torch` is one (plugins "
        "depend on trio-core only). Move that code into trio_opt_fake/torch/, installed by the extra "
        "trio-opt-fake[torch]."
    )
    assert len(found) == 3


def test_third_party_requirements_count_transitively_and_extras_elsewhere_do_not(tmp_path):
    # pydantic comes through trio-core; annotated_types through pydantic; pytest is nobody's.
    fake_checkout(tmp_path, {"plugin.py": "import pydantic\nimport annotated_types\nimport pytest\n"})

    (violation,) = violations_of(tmp_path)
    assert violation.startswith("trio_opt_fake/src/trio_opt_fake/plugin.py:3: import pytest\n")


def test_a_pytest11_module_may_import_pytest(tmp_path):
    fake_checkout(
        tmp_path,
        {"plugin.py": "", "testing.py": "import pytest\n"},
        entry_points={"trio": {"fake": "trio_opt_fake.plugin"}, "pytest11": {"fake": "trio_opt_fake.testing"}},
    )

    assert violations_of(tmp_path) == []


def test_a_trio_entry_point_inside_an_extra_fails(tmp_path):
    fake_checkout(
        tmp_path,
        {"torch/": "", "torch/plugin.py": ""},
        extras={"torch": ["trio-backend-torch"]},
        entry_points={"trio": {"fake": "trio_opt_fake.torch.plugin"}},
    )

    (violation,) = violations_of(tmp_path)
    assert "a trio entry point must be a top-level module" in violation


def test_an_ml_framework_brought_in_transitively_is_named_with_its_chain(tmp_path):
    fake_checkout(tmp_path, {"plugin.py": ""})
    pyproject = tmp_path / "trio_core" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pydantic>=2"', '"pydantic>=2", "torch"'))

    found = violations_of(tmp_path)

    assert [violation.partition("\n")[0] for violation in found] == [
        "trio_core/pyproject.toml: dependency on torch",
        "trio_opt_fake/pyproject.toml: dependency on torch",
    ]
    assert "trio-opt-fake's base dependencies bring in torch (through trio-core), an ML framework" in found[1]
