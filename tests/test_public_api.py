"""The package's shape: a small top level, one declared contract per subpackage, imports one way.

Tiers, left to right: the private shared leaves (_checks, _fastmath, _inputs) -> data -> activations
-> kernels -> finite -> solver, spectrum -> theory -> scaling -> cli (-> ``python -m nngp_ntk``). A module imports only from its
own subpackage and from tiers to its left; no import cycle between modules.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil
import types

import nngp_ntk as nk

PACKAGE = pathlib.Path(nk.__file__).parent
TIERS = {"_checks": 0, "_fastmath": 0, "_inputs": 0.5, "data": 1, "activations": 2, "kernels": 3, "finite": 4,
         "solver": 5, "spectrum": 5, "theory": 6, "scaling": 7, "cli": 8, "__main__": 9}
LAYER_MODULES = {f"nngp_ntk.kernels.{name}" for name in ("_layer", "_dense", "_layernorm", "_residual", "_spec")}
SUBPACKAGES = ["activations", "data", "kernels", "finite", "solver", "spectrum", "theory", "scaling", "cli"]


def modules() -> list[str]:
    """Every module of the package, by dotted name."""
    names = ["nngp_ntk"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="nngp_ntk."):
        names.append(info.name)
    return names


def source(name: str) -> pathlib.Path:
    module = importlib.import_module(name)
    return pathlib.Path(module.__file__)


def imported_modules(name: str) -> set[str]:
    """The nngp_ntk modules ``name`` imports (at any depth of its code, not for type checking alone),
    as dotted names."""
    tree = ast.parse(source(name).read_text())
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nngp_ntk"):
            found.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate in MODULES:
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("nngp_ntk"))
    return found


MODULES = modules()


def tier(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split(".")[1:])


def test_top_level_is_small():
    names = [name for name in nk.__all__ if not isinstance(getattr(nk, name), types.ModuleType)]
    assert len(names) <= 12, names
    assert sorted(name for name in nk.__all__ if isinstance(getattr(nk, name), types.ModuleType)) == \
        sorted(set(SUBPACKAGES) - {"cli"})


def test_every_public_module_declares_its_contract():
    public = [name for name in MODULES if is_public(name) and not name.endswith("__main__")]
    assert set(public) == {"nngp_ntk"} | {f"nngp_ntk.{sub}" for sub in SUBPACKAGES}, public
    for name in public:
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        for entry in module.__all__:
            assert getattr(module, entry) is not None, f"{name}.{entry}"


def test_one_public_path_per_object():
    """An object is public under one subpackage; the top level repeats only the contract names."""
    homes: dict[int, str] = {}
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"nngp_ntk.{sub}")
        for entry in module.__all__:
            value = getattr(module, entry)
            if isinstance(value, (int, float, str, tuple, dict)):
                continue
            where = f"nngp_ntk.{sub}.{entry}"
            assert id(value) not in homes, f"{where} is also {homes[id(value)]}"
            homes[id(value)] = where


def test_public_functions_and_classes_are_documented():
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"nngp_ntk.{sub}")
        for entry in module.__all__:
            value = getattr(module, entry)
            if inspect.isfunction(value) or inspect.isclass(value):
                assert inspect.getdoc(value), f"nngp_ntk.{sub}.{entry} has no docstring"


def test_imports_flow_one_way():
    for name in MODULES:
        own = tier(name)
        for target in imported_modules(name):
            other = tier(target)
            if other is None or other == own or own is None:
                continue
            assert other in TIERS, f"{name} imports {target}, which is in no tier"
            assert own in TIERS and TIERS[other] < TIERS[own], f"{name} ({own}) imports {target} ({other})"


def test_no_import_cycle():
    graph = {name: {target for target in imported_modules(name) if target in MODULES and target != name
                    and not name.startswith(target + ".")}  # a module importing its own package's __init__
             for name in MODULES}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[node] = 2

    for name in MODULES:
        if name not in state:
            visit(name, [name])


def test_no_switch_on_layer_classes_outside_their_definitions():
    """The engine, finite networks and random features call a layer's own methods: no module but the
    layers' own (kernels/_layer.py, _dense.py, _layernorm.py, _residual.py, _spec.py, activations/) asks which
    layer class it holds."""
    import nngp_ntk.activations as activations

    layer_classes = {"Dense", "LayerNorm", "Residual"} | {name for name in activations.__all__
                                                           if isinstance(getattr(activations, name), type)}
    for name in MODULES:
        if name in LAYER_MODULES or name.startswith("nngp_ntk.activations"):
            continue
        for node in ast.walk(ast.parse(source(name).read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
                named = {getattr(item, "id", getattr(item, "attr", None)) for item in ast.walk(node.args[1])}
                assert not named & layer_classes, f"{name}:{node.lineno} switches on {named & layer_classes}"


def test_argument_errors_are_the_users():
    """The library raises its argument errors as ``_checks.ArgumentValueError`` / ``ArgumentTypeError``
    (subclasses of ValueError / TypeError), so that the command tells the user's mistakes from its
    own failures: no bare ``raise ValueError(...)`` or ``raise TypeError(...)`` in the library."""
    for name in MODULES:
        if name.startswith("nngp_ntk.cli"):
            continue
        for node in ast.walk(ast.parse(source(name).read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                raised = getattr(node.exc.func, "id", None)
                assert raised not in ("ValueError", "TypeError"), f"{name}:{node.lineno} raises a bare {raised}"
