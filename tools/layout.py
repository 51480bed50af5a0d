"""Build ``build/layout/``: the installed ``wasmpool`` package as a tree of links to the source files.

setuptools builds ``wasmpool`` from several repository folders
(``[tool.setuptools.package-dir]`` in ``pyproject.toml``): the engine from
``worker/wasm``, the worker from ``worker``, the broker from ``broker``.
Python imports it that way through the editable install's finder, but
static tools (mypy, import-linter) find packages by walking folders. This
script gives them the folder tree the wheel would have: real directories,
one symbolic link per source file, so their reports point at the files
you edit (through the link) and nothing is copied.

``python tools/layout.py`` rebuilds the tree and checks that every folder
holding an ``__init__.py`` below the mapped roots is a listed package (a
package left out of ``packages`` would be silently missing from the wheel).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imports import REPO, package_dirs

TARGET = REPO / "build" / "layout"
FILES = ("*.py", "py.typed")


def unlisted(packages: dict[str, Path]) -> list[Path]:
    """Package folders below the listed ones that pyproject does not list."""
    listed = {folder.resolve() for folder in packages.values()}
    missing = []
    for folder in listed:
        for init in folder.rglob("__init__.py"):
            if init.parent.resolve() not in listed and "__pycache__" not in init.parts:
                missing.append(init.parent)
    return sorted(set(missing))


def build(target: Path = TARGET) -> Path:
    """Rebuild ``target`` and return it; raises SystemExit naming unlisted package folders."""
    packages = package_dirs()
    missing = unlisted(packages)
    if missing:
        names = ", ".join(str(m.relative_to(REPO)) for m in missing)
        raise SystemExit(f"package folders not listed in pyproject's [tool.setuptools] packages: {names}")
    if target.exists():
        shutil.rmtree(target)
    for name, folder in packages.items():
        out = target.joinpath(*name.split("."))
        out.mkdir(parents=True, exist_ok=True)
        for pattern in FILES:
            for source in folder.glob(pattern):
                (out / source.name).symlink_to(source.resolve())
    return target


if __name__ == "__main__":
    print(build())
