"""The project's import graph, read from the source files: cycles and sizes.

``python tools/imports.py`` prints the file-level import cycles and the
lines per package of the installed ``wasmpool`` package, as mapped from the
repository's folders by ``[tool.setuptools.package-dir]`` in
``pyproject.toml``. Every import counts, wherever it is written: at module
level, inside a function, or under ``if TYPE_CHECKING:``, because each is
an edge a reader has to follow and a cycle waiting for its first eager use.

Reading the files (not importing them) keeps this usable on any checkout,
and lets ``--root NAME=DIR`` describe an older layout for before/after
figures.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def package_dirs(repo: Path = REPO) -> dict[str, Path]:
    """Installed package name -> folder, for every package pyproject lists."""
    config = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = config.get("package-dir", {})
    out = {}
    for name in config["packages"]:
        out[name] = repo / _folder(name, mapping)
    return out


def _folder(name: str, mapping: Mapping[str, str]) -> str:
    """The folder setuptools builds package ``name`` from."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in mapping:
            return str(Path(mapping[head], *parts[cut:]))
    return str(Path(*parts))


def modules(packages: Mapping[str, Path]) -> dict[str, Path]:
    """Module name -> file for every ``.py`` file directly in each package folder."""
    out: dict[str, Path] = {}
    for name, folder in packages.items():
        for path in sorted(folder.glob("*.py")):
            out[name if path.stem == "__init__" else f"{name}.{path.stem}"] = path
    return out


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The project modules that ``name`` (its source at ``path``) imports, anywhere in the file."""
    known = set(known)
    is_package = path.stem == "__init__"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_closest(alias.name, known))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else _closest(base, known))
    found.discard("")
    found.discard(name)
    return found


def _closest(dotted: str, known: set[str]) -> str:
    """The longest project module that ``dotted`` names or lies inside; '' if none."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in known:
            return head
    return ""


def graph(packages: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    mods = modules(packages)
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        group.append(top)
                        if top == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return sorted(groups)


def sizes(packages: Mapping[str, Path]) -> list[tuple[str, int, int]]:
    """(package, files, lines) for each package, its own files only."""
    out = []
    for name, folder in sorted(packages.items()):
        files = sorted(folder.glob("*.py"))
        out.append((name, len(files), sum(len(f.read_text().splitlines()) for f in files)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", action="append", default=[], metavar="NAME=DIR",
                        help="describe the layout by hand (every package folder below DIR is NAME.*)")
    parser.add_argument("--longest", type=int, default=8, help="list this many longest files")
    args = parser.parse_args(argv)
    if args.root:
        packages: dict[str, Path] = {}
        for spec in args.root:
            name, _, folder = spec.partition("=")
            base = Path(folder)
            for init in sorted(base.rglob("__init__.py")):
                rel = init.parent.relative_to(base).parts
                packages[".".join([name, *rel])] = init.parent
    else:
        packages = package_dirs()
    groups = cycles(graph(packages))
    print(f"file-level import cycles: {len(groups)}")
    for group in groups:
        print("  " + " <-> ".join(group))
    print("package                          files  lines")
    for name, count, lines in sizes(packages):
        print(f"  {name:<30} {count:>5} {lines:>6}")
    files = sorted(modules(packages).values(), key=lambda f: -len(f.read_text().splitlines()))
    print("longest files:")
    for path in files[: args.longest]:
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        print(f"  {len(path.read_text().splitlines()):>5}  {shown}")
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main())
