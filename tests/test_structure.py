"""The package's shape: no import cycle (imports inside functions included) and no printing
outside the command line. Read from the source with ``ast``; nothing is imported."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jaxdl"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file, with the packages that
    importing them runs first (``jaxdl.nn.affine`` runs ``jaxdl.nn``'s ``__init__``)."""

    def known(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(filter(None, (known(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                named.add(known(f"{base}.{alias.name}") or known(base))
    edges = set()
    for module in filter(None, named):
        parts = module.split(".")
        edges.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
    # a module's own packages are running already when it is imported
    return {m for m in edges if m in modules and m != name and not name.startswith(m + ".")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_the_checker_finds_a_cycle_hidden_in_a_function():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_command_line_prints():
    printing = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in ("cli", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printing.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert printing == []


#: The most lines a function of jaxdl may span, from its ``def`` to its last line.
MAX_FUNCTION_LINES = 60
#: Longer functions, each with the reason it is not split (none today).
STILL_LONG: set[str] = set()


def _function_lengths() -> dict[str, int]:
    lengths = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{where}:{node.name}"
                lengths[name] = max(lengths.get(name, 0), node.end_lineno - node.lineno + 1)
    return lengths


def test_no_function_is_over_sixty_lines():
    lengths = _function_lengths()
    long = {name: n for name, n in lengths.items() if n > MAX_FUNCTION_LINES}
    assert {name: n for name, n in long.items() if name not in STILL_LONG} == {}
    assert sorted(STILL_LONG - set(long)) == [], "split now: remove them from STILL_LONG"


def _flags_in_raised_messages(path: Path) -> list[str]:
    import re

    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]*(?!\w)")  # --out, --resume; not --xla_...
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    found += [f"line {node.lineno}: {m}" for m in flag.findall(part.value)]
    return found


def test_library_errors_name_the_argument_not_a_flag():
    """``resume=True``, ``run_dir``: the command line turns them into its flags."""
    named = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent).as_posix()
        if path.relative_to(PACKAGE).parts[0] != "cli":
            named |= {where: flags} if (flags := _flags_in_raised_messages(path)) else {}
    assert named == {}


#: The names an upstream gradient goes by in a backward pass's parameters.
UPSTREAM = {"g", "grad_out"}
#: Names a seed gave, kept as the seed wrote them.
SEED_NAMES = {"jaxdl/nn/dense_stack.py:forward_backward"}


def _gradient_names() -> dict[str, str]:
    """Each top-level function of the ops and losses that is a backward pass (takes the
    upstream gradient) or is named like one, with what it is named and what it takes."""
    found = {}
    for path in sorted([*(PACKAGE / "nn").glob("*.py"), PACKAGE / "losses.py"]):
        where = path.relative_to(PACKAGE.parent).as_posix()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef) or node.name.endswith("_bwd"):
                continue  # a custom_vjp's bwd has jax's signature (saved, g)
            takes = {a.arg for a in node.args.args + node.args.kwonlyargs} & UPSTREAM
            backward = node.name.endswith(("_backward", "_backward_saved"))
            named = backward or node.name.endswith("_grad")
            if (named or (takes and not node.name.startswith("_"))) and (
                f"{where}:{node.name}" not in SEED_NAMES
            ):
                found[f"{where}:{node.name}"] = "ok" if bool(takes) == backward else "misnamed"
    return found


def test_hand_backwards_have_one_naming():
    """``<op>_backward(inputs..., g)`` and ``<op>_backward_saved(saved..., g)`` take the upstream
    gradient; ``*_grad`` is the gradient of a scalar and takes none (``jaxdl.nn``'s docstring)."""
    names = _gradient_names()
    assert "jaxdl/nn/layer_norm.py:layer_norm_backward" in names  # the walk sees the ops
    assert {name for name, verdict in names.items() if verdict == "misnamed"} == set()
