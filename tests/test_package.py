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

ROOMS = ("tasks", "models", "training", "patching", "probes", "analysis", "figures", "tsft")
"""The repository's top-level folders, in import order; installed as tsft.<room> (the front door is tsft)."""
CARD = ("torch", "transformer-lens", "nnsight", "transformers", "einops", "plotly", "scikit-learn", "pandas")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def python_files():
    for room in (*ROOMS, "bench"):
        yield from sorted((REPO / room).rglob("*.py"))


def installed_name(folder) -> str:
    """The dotted name a package folder (or module path without suffix) installs as: tasks/world -> tsft.tasks.world."""
    parts = folder.relative_to(REPO).parts
    return ".".join(parts if parts[0] == "tsft" else ("tsft", *parts))


def room_of(module: str) -> str | None:
    """The room an absolute import names: tsft.patching.run -> patching, tsft.cli -> tsft, numpy -> None."""
    parts = module.split(".")
    if parts[0] != "tsft":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS[:-1] else "tsft"


def test_packages_are_listed_explicitly_and_exist():
    listed = PYPROJECT["tool"]["setuptools"]["packages"]
    found = sorted(installed_name(p.parent) for room in ROOMS for p in (REPO / room).rglob("__init__.py"))
    assert sorted(listed) == found
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapping == {"tsft": "tsft", **{f"tsft.{room}": room for room in ROOMS[:-1]}}
    assert PYPROJECT["project"]["scripts"]["tsft"] == "tsft.cli:main"


def test_only_tsft_lands_in_site_packages(tmp_path):
    """From outside the repository the rooms are tsft.<room> and nothing else: `import tasks` fails."""
    assert set(metadata.packages_distributions().get("tsft", [])) == {"tsft"}
    for room in ROOMS[:-1]:
        assert "tsft" not in metadata.packages_distributions().get(room, []), room
    code = ("import importlib, sys\n"
            "for room in " + repr(ROOMS[:-1]) + ":\n"
            "    print(room, importlib.import_module('tsft.' + room).__file__)\n"
            "    try:\n        importlib.import_module(room)\n        print('bare', room)\n"
            "    except ModuleNotFoundError:\n        pass\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    lines = out.stdout.split("\n")
    assert not [line for line in lines if line.startswith("bare")], out.stdout
    for room in ROOMS[:-1]:
        assert f"{room} {REPO / room / '__init__.py'}" in lines or any(
            line.startswith(f"{room} ") and line.endswith(f"tsft/{room}/__init__.py") for line in lines), out.stdout


def test_no_module_imports_a_room_by_its_bare_name():
    """Every import of project code says tsft.<room>: a bare `from training...` would work only from the
    repository's root, and would load a second copy of the module beside tsft.training's."""
    for path in [*python_files(), *sorted((REPO / "tests").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                assert name.split(".")[0] not in ROOMS[:-1], f"{path}: imports {name} (write tsft.{name})"


def test_card_dependencies_declared_with_satisfied_lower_bounds():
    requirements = {Requirement(r).name: Requirement(r) for r in PYPROJECT["project"]["dependencies"]}
    for name in CARD:
        assert name in requirements, f"{name} is not declared"
        spec = requirements[name].specifier
        assert any(s.operator == ">=" for s in spec), f"{name} needs a lower bound"
        assert spec.contains(metadata.version(name), prereleases=True), (name, metadata.version(name))


def _imported(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return []


def test_imports_run_one_way():
    order = {room: i for i, room in enumerate(ROOMS)}
    for path in python_files():
        room = path.relative_to(REPO).parts[0]
        if room not in order:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            for name in _imported(node):
                target = room_of(name)
                if target in order:
                    assert order[target] <= order[room], f"{path}: {room} imports {target} (rooms import leftwards)"


def test_the_rooms_that_look_inside_models_never_import_the_trainer():
    for room in ("patching", "probes"):
        for path in sorted((REPO / room).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                assert not any(room_of(n) == "training" for n in _imported(node)), f"{path} imports training"


def _module_name(path) -> str:
    return installed_name(path.with_suffix("")).removesuffix(".__init__")


def _imports_within_room(path, room: str) -> set[str]:
    """The project modules of `room` that `path` imports, at the top or inside functions."""
    return {n for node in ast.walk(ast.parse(path.read_text())) for n in _imported(node) if room_of(n) == room}


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
    code = ("import sys, tsft.tasks.build, tsft.tasks.dataset, tsft.cli, tsft.training.sft, tsft.training.base, "
            "tsft.models.evaluate, tsft.patching.engines, tsft.patching.activation, tsft.patching.attribution, "
            "tsft.patching.tracing, tsft.patching.cross, tsft.patching.run, tsft.probes.capture, tsft.probes.linear, "
            "tsft.probes.mdl, tsft.probes.causal, tsft.probes.run, tsft.cli_probe; "
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


def test_each_room_offers_its_few_public_names_without_loading_torch():
    """`from tsft.<room> import <name>` works for every name a room lists, no name shadows a module of its room
    (a submodule imported later would replace it), and importing the rooms alone loads neither torch nor
    math-verify."""
    code = ("import sys, importlib; rooms = [importlib.import_module(f'tsft.{r}') for r in "
            f"{[r for r in ROOMS if r != 'tsft']!r}]; "
            "print(sorted(m for m in ('torch', 'math_verify', 'transformers') if m in sys.modules)); "
            "print(sum(len(r.__all__) for r in rooms))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    heavy, count = out.stdout.split("\n")[:2]
    assert heavy == "[]" and int(count) >= 30
    for room in ROOMS[:-1]:
        package = importlib.import_module(f"tsft.{room}")
        modules = {p.stem for p in (REPO / room).glob("*.py")} | {p.name for p in (REPO / room).iterdir() if p.is_dir()}
        assert not set(package.__all__) & modules, room
        for name in package.__all__:
            assert getattr(package, name) is not None, f"tsft.{room}.{name}"
