"""The house rules that code can check: packaging, one-way imports, lazy engines, no unsafe loads."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata as metadata
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

ROOMS = ("tasks", "training", "patching", "probes", "analysis", "figures", "tsft")
CARD = ("torch", "transformer-lens", "nnsight", "transformers", "einops", "plotly", "scikit-learn", "pandas")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def python_files():
    for room in (*ROOMS, "bench"):
        yield from sorted((REPO / room).rglob("*.py"))


def test_packages_are_listed_explicitly_and_exist():
    listed = PYPROJECT["tool"]["setuptools"]["packages"]
    found = sorted(p.parent.relative_to(REPO).as_posix().replace("/", ".") for room in ROOMS
                   for p in (REPO / room).rglob("__init__.py"))
    assert sorted(listed) == found
    assert PYPROJECT["project"]["scripts"]["tsft"] == "tsft.cli:main"


@pytest.mark.parametrize("room", ROOMS)
def test_room_names_shadow_nothing_installed(room):
    owners = metadata.packages_distributions().get(room, [])
    assert set(owners) <= {"tsft"}, f"{room} is also provided by {owners}"
    module = importlib.import_module(room)
    assert module.__file__ and module.__file__.startswith(str(REPO / room)), module.__file__


def test_card_dependencies_declared_with_satisfied_lower_bounds():
    requirements = {Requirement(r).name: Requirement(r) for r in PYPROJECT["project"]["dependencies"]}
    for name in CARD:
        assert name in requirements, f"{name} is not declared"
        spec = requirements[name].specifier
        assert any(s.operator == ">=" for s in spec), f"{name} needs a lower bound"
        assert spec.contains(metadata.version(name), prereleases=True), (name, metadata.version(name))


def test_imports_run_one_way():
    order = {room: i for i, room in enumerate(ROOMS)}
    for path in python_files():
        room = path.relative_to(REPO).parts[0]
        if room not in order:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                target = name.split(".")[0]
                if target in order:
                    assert order[target] <= order[room], f"{path}: {room} imports {target} (rooms import leftwards)"


def _module_name(path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _imports_within_room(path, room: str) -> set[str]:
    """The project modules of `room` that `path` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] == room}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph as a path, or None (depth-first search with colours)."""
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


@pytest.mark.parametrize("room", ROOMS)
def test_no_import_loops_inside_a_room(room):
    """Within a room, modules import one way too (a loop hidden inside functions is still a loop)."""
    modules = {_module_name(p): p for p in sorted((REPO / room).rglob("*.py"))}
    graph = {name: {m for m in _imports_within_room(path, room) if m in modules and m != name}
             for name, path in modules.items()}
    assert _cycle(graph) is None, f"import loop in {room}: {' -> '.join(_cycle(graph))}"


def test_the_loop_detector_finds_a_loop():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_heavy_engines_are_not_imported_by_the_front_door():
    code = ("import sys, tasks.build, tasks.dataset, tsft.cli, training.sft, training.base, training.evaluate, "
            "patching.engines, patching.activation, patching.attribution, patching.tracing, patching.cross, "
            "patching.run, probes.capture, probes.linear, probes.mdl, probes.causal, probes.run, tsft.cli_probe; "
            "print(sorted(m for m in ('transformer_lens', 'nnsight', 'plotly', 'kaleido') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_no_unsafe_loading_in_project_code():
    for path in python_files():
        source = path.read_text()
        assert "pickle.load" not in source, path
        assert "trust_remote_code=True" not in source, path
        for call in [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]:
            if ast.unparse(call.func).endswith("torch.load"):
                assert any(k.arg == "weights_only" for k in call.keywords), f"{path}: torch.load without weights_only"


def test_files_stay_small():
    for path in python_files():
        assert len(path.read_text().splitlines()) <= 400, f"{path} outgrew 400 lines: split it"


def test_command_help_lists_the_rooms_built_so_far():
    out = subprocess.run([sys.executable, "-m", "tsft", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and all(group in out.stdout for group in ("data", "train", "eval", "patch"))


def _packages():
    for room in ROOMS:
        yield from sorted(p.parent for p in (REPO / room).rglob("__init__.py"))


@pytest.mark.parametrize("package", list(_packages()), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_package_map_names_every_module(package):
    """Each package docstring lists its modules (as `name`), so a newcomer's map is never missing a room."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    named = set(re.findall(r"`(?:[\w.]+\.)?(\w+)`", doc))
    modules = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    modules |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert modules <= named, f"{package}: the map omits {sorted(modules - named)}"


def test_no_code_cites_documents_users_do_not_have():
    for path in [*python_files(), REPO / "pyproject.toml", REPO / "README.md", REPO / ".ci" / "run"]:
        text = path.read_text()
        assert "DESIGN.md" not in text and "STACK.md" not in text, path
