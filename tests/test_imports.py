"""The package's own imports form no cycle (issue 29): read from the source with ``ast``, lazy
imports inside functions included, so a cycle is caught even where Python would tolerate it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "repro"


def package_modules(root: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``) for every module under ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def import_graph(modules: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source (``import a.b``,
    ``from a import b`` where ``b`` is a module, else ``a``; relative imports resolved)."""
    top = next(iter(modules)).split(".")[0]
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = here[:len(here) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                if target.split(".")[0] != top:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    graph[name].add(sub if sub in modules else target)
        graph[name] &= set(modules)
        graph[name].discard(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` if it has none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_resolves_relative_imports():
    graph = import_graph(package_modules())
    assert "repro.io.figures" in graph["repro.evaluate.fig4"]  # from ..figures import pick_crops
    assert "repro.wild.manifest" in graph["repro.wild.build"]  # from .manifest import ...


def test_the_package_imports_form_no_cycle():
    graph = import_graph(package_modules())
    cycle = find_cycle(graph)
    if cycle:
        pytest.fail("import cycle inside repro/: " + " -> ".join(cycle))


# The layers of the package, bottom first (issue 44). A module may import its own layer and the
# layers below it, never one above: the stages run camera -> wild -> synthetic -> train -> evaluate,
# and the study's machinery drives them all. ``measure`` is what training (choosing and shipping a
# network) and evaluation both measure with, so that train never imports evaluate.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("repro", "repro.core", "repro.io"),  # the network and its arithmetic; plumbing; ``repro``'s own names
    ("repro.camera",),
    ("repro.wild",),
    ("repro.synthetic",),
    ("repro.baselines", "repro.peers"),  # the methods Table 2 compares DeblurNet with
    ("repro.measure",),
    ("repro.train",),
    ("repro.ablations",),  # trains variants (train) and is read by the evaluation
    ("repro.evaluate",),
    ("repro.study",),
    ("repro.__main__", "repro.tour"),  # the public faces: the command line, the teaching tour
)
MODULE_NAME = re.compile(r"repro(\.\w+)+")


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the longest prefix of ``module`` listed there (``"repro"``,
    the package's ``__init__``, stands for itself only)."""
    best = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or (prefix != "repro" and module.startswith(prefix + "."))) and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    if best is None:
        raise KeyError(f"{module}: in no layer of tests/test_imports.py's LAYERS; place its package there")
    return best[0]


def string_imports(path: Path, modules: dict) -> set[str]:
    """Modules named by a whole string of the source (``"repro.baselines.sun:SunEtAl2015"``,
    ``importlib.import_module("repro.core.inference")``): imports made at run time."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.split(":")[0]
            if MODULE_NAME.fullmatch(name) and name in modules:
                found.add(name)
    return found


def upward_imports(modules: dict, graph: dict[str, set[str]]) -> list[str]:
    """``"a -> b"`` for every import (module level, inside functions, or by name in a string) of a
    module ``b`` in a higher layer than ``a``'s."""
    bad = []
    for name in sorted(graph):
        for target in sorted(graph[name] | (string_imports(modules[name][0], modules) - {name})):
            if layer_of(target) > layer_of(name):
                bad.append(f"{name} (layer {layer_of(name)}) -> {target} (layer {layer_of(target)})")
    return bad


def test_layer_of_takes_the_longest_listed_prefix():
    assert layer_of("repro") == 0 and layer_of("repro.core.model") == 0
    assert layer_of("repro.train.ship") < layer_of("repro.evaluate.harm") < layer_of("repro.study.reproduce")
    with pytest.raises(KeyError, match="no layer"):
        layer_of("repro.somewhere_new")


def test_upward_imports_are_found_inside_functions_and_in_strings(tmp_path):
    low, high = tmp_path / "low.py", tmp_path / "high.py"
    low.write_text("def f():\n    from repro.evaluate import harm\n")
    (tmp_path / "none.py").write_text("")
    high.write_text("SPEC = 'repro.core.model:DeblurNet'\n")
    modules = {"repro.train.low": (low, False), "repro.evaluate.harm": (high, False),
               "repro.core.model": (tmp_path / "none.py", False)}
    graph = {"repro.train.low": {"repro.evaluate.harm"}, "repro.evaluate.harm": set(), "repro.core.model": set()}
    assert upward_imports(modules, graph) == ["repro.train.low (layer 6) -> repro.evaluate.harm (layer 8)"]


def test_every_module_imports_its_own_layer_or_lower_ones_only():
    modules = package_modules()
    bad = upward_imports(modules, import_graph(modules))
    assert not bad, "imports that run up the layers (tests/test_imports.py's LAYERS):\n" + "\n".join(bad)


def test_the_top_of_the_package_holds_its_public_faces_only():
    """At most six modules beside the packages: ``__init__``, ``__main__`` and the public faces."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 6, f"{len(loose)} loose modules in repro/: {loose}; put them in a package"


ROOT = PACKAGE.parent
DOTTED = re.compile(r"(?<![\w./-])repro(?:\.[A-Za-z_]\w*)+")
FILE_NAME = re.compile(r"(?<![\w./-])repro/[\w/]+\.py\b")  # a module cited by its file


def resolves(name: str) -> bool:
    """Whether ``name`` (``repro.core.model.downsample``) is a module, or an attribute reached from
    the longest importable module prefix of it."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def named_in(text: str) -> set[str]:
    """The dotted ``repro....`` names a text cites (a trailing ``.py`` or sentence dot dropped)."""
    return {m.removesuffix(".py") for m in DOTTED.findall(text)}


def test_named_in_reads_dotted_names():
    assert named_in("see `repro.core.model.downsample`; python -m repro.study.demo.") == {
        "repro.core.model.downsample", "repro.study.demo"}
    assert resolves("repro.core.model.DeblurNet") and not resolves("repro.core.model.NoSuchNet")


def test_every_name_the_notebooks_cards_and_docs_cite_still_resolves():
    """The committed notebooks, the shipped weights' cards, the docs and the package's own docstrings
    name modules and functions of ``repro`` (issue 44 moved the loose modules into packages): each
    name must still be there."""
    sources = [*sorted((ROOT / "notebooks").glob("*.ipynb")), *sorted((PACKAGE / "weights").glob("*.json")),
               *sorted(PACKAGE.rglob("*.py")),
               ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "figures" / "README.md",
               ROOT / "results" / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "experiments" / "README.md"]
    stale = sorted({f"{path.relative_to(ROOT)}: {name}" for path in sources
                    for name in named_in(path.read_text()) if not resolves(name)})
    stale += sorted({f"{path.relative_to(ROOT)}: {file}" for path in sources
                     for file in FILE_NAME.findall(path.read_text()) if not (ROOT / file).is_file()})
    assert not stale, "names and files that no longer resolve:\n" + "\n".join(stale)
