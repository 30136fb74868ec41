"""The tutorials of docs/plugins.md, taken from the page and installed as distributions without pip.

Each file a tutorial shows is a code block after a ``<!-- file: PATH -->`` line; PATH starts
with the plugin's folder (``trio_night_gate/...``). Installing writes the plugin's modules
into a site folder next to a dist-info built from its pyproject.toml (name, version,
requirements with their extras, entry points), so discovery goes through importlib.metadata
exactly as after ``pip install``.
"""

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

DOCS = Path(__file__).parents[2] / "docs" / "plugins.md"
FILE_BLOCK = re.compile(r"^<!-- file: (?P<path>\S+) -->\n```[\w-]*\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def tutorial_files(folder: str) -> dict[str, str]:
    """Every file the page shows under the plugin folder ``folder``, by its path inside that folder."""
    files = {
        match["path"].removeprefix(f"{folder}/"): match["body"]
        for match in FILE_BLOCK.finditer(DOCS.read_text())
        if match["path"].startswith(f"{folder}/")
    }
    assert files, f"no <!-- file: {folder}/... --> blocks in {DOCS}"
    return files


def install_without_pip(folder: str, site: Path) -> dict:
    """Write the tutorial plugin's modules and its dist-info into ``site``; returns its parsed pyproject.toml."""
    files = tutorial_files(folder)
    pyproject = tomllib.loads(files["pyproject.toml"])
    project = pyproject["project"]
    for path, body in files.items():
        relative = Path(path)
        if relative.suffix != ".py" or relative.parts[0] == "tests":
            continue
        relative = relative.relative_to("src") if relative.parts[0] == "src" else relative
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(body)
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    requires = [f"Requires-Dist: {requirement}\n" for requirement in project.get("dependencies", [])]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        requires.append(f"Provides-Extra: {extra}\n")
        requires += [f'Requires-Dist: {requirement}; extra == "{extra}"\n' for requirement in requirements]
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n{''.join(requires)}"
    )
    entry_points = "".join(f"{name} = {value}\n" for name, value in project["entry-points"]["trio"].items())
    (info / "entry_points.txt").write_text(f"[trio]\n{entry_points}")
    return pyproject
