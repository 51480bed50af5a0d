"""The package's shape: one import package, every folder shipped, no import cycles, layers that point down.

These read the source files and the built wheel rather than trusting the
editable install, which maps folders to names with an import hook: a
package missing from ``pyproject.toml`` or an old top-level name would
still import here and only break for people who ``pip install`` wasmpool.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT

TOOLS = REPO_ROOT / "tools"


def _tool(name: str) -> ModuleType:
    """One of the repository's tools/ scripts, imported by path."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location(f"wasmpool_tools_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


imports = _tool("imports")
layout = _tool("layout")


def test_no_file_imports_another_that_imports_it_back() -> None:
    groups = imports.cycles(imports.graph(imports.package_dirs()))
    assert groups == [], "import cycles between files: " + "; ".join(" <-> ".join(g) for g in groups)


def test_cycle_finder_sees_cycles_through_any_kind_of_import(tmp_path: Path) -> None:
    """A function-level import and a TYPE_CHECKING import close a cycle as surely as a top-level one."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.c import x\n    return x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from . import a\nx = 1\n")
    (pkg / "d.py").write_text("from pkg import a\n")
    assert imports.cycles(imports.graph({"pkg": pkg})) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    assert layout.unlisted(imports.package_dirs()) == []


def test_the_old_top_level_names_are_gone(tmp_path: Path) -> None:
    """Outside the repository (no folder on sys.path) only ``wasmpool`` imports."""
    script = ("import importlib\n"
              "for name in ('broker', 'worker'):\n"
              "    try:\n"
              "        importlib.import_module(name)\n"
              "    except ModuleNotFoundError:\n"
              "        print('absent', name)\n"
              "import wasmpool.wasm, wasmpool.wire, wasmpool.worker, wasmpool.broker\n"
              "import wasmpool.client, wasmpool.cli\n"
              "print('present', wasmpool.wasm.decode.__module__)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split("\n")
    assert out[:3] == ["absent broker", "absent worker", "present wasmpool.wasm.decoder"]


def test_the_public_surface() -> None:
    import wasmpool
    import wasmpool.wasm as wasm
    from wasmpool import AsyncClient, Broker, Client, Result

    assert {Client.__name__, AsyncClient.__name__, Broker.__name__, Result.__name__} == {
        "Client", "AsyncClient", "Broker", "Result"}
    assert callable(wasm.decode) and callable(wasm.instantiate)
    with pytest.raises(AttributeError, match="no attribute 'Worker'"):
        _ = wasmpool.Worker  # type: ignore[attr-defined]


@pytest.mark.timeout(300)
def test_the_wheel_holds_one_package_with_every_module(tmp_path: Path) -> None:
    """``pip wheel .`` builds what ``pip install .`` installs: ``wasmpool`` and nothing beside it."""
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "-q",
                            "-w", str(tmp_path)], capture_output=True, text=True, timeout=280)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("wasmpool-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"wasmpool", wheel.name.split("-py3")[0] + ".dist-info"}
    shipped = {name for name in names if name.endswith(".py")}
    tree = layout.build(tmp_path / "layout")
    expected = {str(path.relative_to(tree)) for path in tree.rglob("*.py")}
    assert shipped == expected
    assert not any(name.startswith("wasmpool/worker/wasm/") for name in names), "the engine ships twice"


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("import-linter is not installed (it is in the dev extra: pip install -e '.[dev]')")
    return found


@pytest.mark.timeout(120)
def test_the_layer_contract_rejects_an_upward_import(tmp_path: Path) -> None:
    """The contract `make test` checks can fail: the wire importing the broker breaks it."""
    tree = layout.build(tmp_path / "layout")
    errors_module = tree / "wasmpool" / "wire" / "errors.py"
    text = errors_module.read_text()
    errors_module.unlink()
    errors_module.write_text(text + "\nimport wasmpool.broker.state  # an upward import\n")
    run = subprocess.run([_lint_imports(), str(REPO_ROOT / "pyproject.toml")], cwd=tree,
                         capture_output=True, text=True, timeout=110)
    assert run.returncode == 1
    assert "wasmpool.wire.errors -> wasmpool.broker.state" in run.stdout


def test_the_container_image_copies_every_folder_the_package_is_built_from() -> None:
    """deploy/Dockerfile runs ``pip install .`` on the folders it copies: each one the package needs."""
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    copied = {line.split()[1].strip("./") for line in dockerfile.splitlines() if line.startswith("COPY ")}
    needed = {folder.relative_to(REPO_ROOT).parts[0] for folder in imports.package_dirs().values()}
    assert needed == {"wasmpool", "worker", "broker"}
    assert needed <= copied
