"""The pure core stays pure (DESIGN §2): no files, processes, clock or environment.

Each pure module is read as source. It may import only the standard library modules below,
which do no I/O, and other pure modules; it may not call `open()`, `print()` and the like,
nor read the clock. What a module needs beyond that is in its row of `PURE`, with why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pstore_archiver"

# Standard library modules that touch no file, process, socket or clock.
PURE_STDLIB = frozenset({
    "__future__", "abc", "bisect", "collections", "dataclasses", "datetime", "enum", "errno",
    "functools", "hashlib", "_sha2", "_sha256", "itertools", "json", "math", "operator", "re",
    "string", "textwrap", "typing", "unicodedata", "zlib",
})  # fmt: skip
# Built-ins that read or write the outside world.
IMPURE_BUILTINS = frozenset({"open", "print", "input", "breakpoint", "exec", "eval", "__import__"})
# `datetime.now()`, `date.today()`: reads of the clock.
CLOCK_READS = frozenset({"now", "utcnow", "today"})
LOCAL_ZONE = "astimezone()"  # without a zone: the machine's local zone

# Every pure module, and what it may use beyond the above (dotted names of impure modules,
# or LOCAL_ZONE).
PURE: dict[str, frozenset[str]] = {
    "analysis": frozenset(),
    "crashes": frozenset({LOCAL_ZONE}),  # `top`'s dates in the local zone
    "dumps": frozenset(),
    "errors": frozenset({"os.strerror"}),  # the text of an errno, for one-line messages
    # json's own C scanner and encoder, without json
    "json_lite": frozenset(
        {
            "_json.make_scanner",
            "_json.make_encoder",
            "_json.encode_basestring",
            "_json.encode_basestring_ascii",
        }
    ),
    "manifest": frozenset(),
    "query": frozenset({LOCAL_ZONE}),  # times shown in the local zone, as coredumpctl does
    "records": frozenset(),
    "redact": frozenset(),
    "retention": frozenset(),
    "terminal": frozenset(),
    "times": frozenset(),
    # builds a class as collections.namedtuple does: a __new__ (tuple_new's, or its own
    # exec() of one, once for each number of fields above those), its field getters, and
    # its version's methods
    "typing_lite": frozenset(
        {
            "exec()",
            "_collections._tuplegetter",
            "types.FunctionType",
            "sys",
            "sys.version_info",
        }
    ),
    "timespec": frozenset({LOCAL_ZONE}),  # `today` is midnight in the local zone
    "tuple_new": frozenset(),
    "units": frozenset(),
}


def module_tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))


def outside_uses(tree: ast.Module) -> set[str]:
    """What a module uses from outside itself that is not pure standard library: modules
    and names it imports (`pstore_archiver.units`, `os`), the attributes it takes of
    imported modules (`os.strerror`), impure built-ins (`open()`), clock reads (`.now()`)
    and `astimezone()` without a zone."""
    nodes = runtime_nodes(tree)
    modules = imported_modules(nodes)
    uses = set(modules.values())
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            uses.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Name) and node.id in IMPURE_BUILTINS:
            uses.add(f"{node.id}()")
        elif isinstance(node, ast.Attribute):
            uses.update(attribute_use(node, modules))
        elif isinstance(node, ast.Call) and reads_the_local_zone(node):
            uses.add(LOCAL_ZONE)
    return {use for use in uses if use.split(".")[0] not in PURE_STDLIB}


def runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:`, which never run."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for inner in ast.walk(statement)
    }
    return [node for node in ast.walk(tree) if id(node) not in typing_only]


def imported_modules(nodes: list[ast.AST]) -> dict[str, str]:
    """The names `import` statements bind, and the module each stands for."""
    return {
        alias.asname or alias.name.split(".")[0]: alias.name
        for node in nodes
        if isinstance(node, ast.Import)
        for alias in node.names
    }


def attribute_use(node: ast.Attribute, modules: dict[str, str]) -> list[str]:
    """`os.strerror` of an imported module, or `.now()` and the like."""
    if isinstance(node.value, ast.Name) and node.value.id in modules:
        return [f"{modules[node.value.id]}.{node.attr}"]
    return [f".{node.attr}()"] if node.attr in CLOCK_READS else []


def reads_the_local_zone(call: ast.Call) -> bool:
    """`moment.astimezone()`: without a zone it converts to the machine's."""
    function = call.func
    return (
        isinstance(function, ast.Attribute)
        and function.attr == "astimezone"
        and not (call.args or call.keywords)
    )


def allowed(use: str, extra: frozenset[str]) -> bool:
    """Whether a module may use this: a pure module of the package, or what its row names
    (`import os` for `os.strerror`)."""
    if use.startswith("pstore_archiver."):
        return use.split(".")[1] in PURE
    return use in extra or any(name.startswith(f"{use}.") for name in extra)


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_module_does_no_io(module: str) -> None:
    uses = outside_uses(module_tree(module))
    assert sorted(use for use in uses if not allowed(use, PURE[module])) == []


def test_every_module_that_says_it_is_pure_is_checked() -> None:
    said = {
        path.stem
        for path in PACKAGE.glob("*.py")
        if "Pure" in (ast.get_docstring(module_tree(path.stem)) or "")
    }
    assert said | {"errors"} == set(PURE)  # pure without saying so


@pytest.mark.parametrize(
    "source, found",
    [
        ("import os\nos.listdir('.')", ["os", "os.listdir"]),
        ("from pathlib import Path", ["pathlib.Path"]),
        ("import time\ntime.time()", ["time", "time.time"]),
        ("import subprocess as sp\nsp.run([])", ["subprocess", "subprocess.run"]),
        ("from pstore_archiver import store", ["pstore_archiver.store"]),
        ("from pstore_archiver.archive import Archive", ["pstore_archiver.archive.Archive"]),
        ("def f():\n    import shutil", ["shutil"]),  # a lazy import counts too
        ("with open('x') as f:\n    pass", ["open()"]),
        ("print('x')", ["print()"]),
        ("from datetime import datetime\ndatetime.now()", [".now()"]),
        ("import datetime\ndatetime.date.today()", [".today()"]),
        ("def f(moment):\n    return moment.astimezone()", [LOCAL_ZONE]),
    ],
)
def test_the_check_finds_io(source: str, found: list[str]) -> None:
    uses = outside_uses(ast.parse(source))
    assert sorted(uses) == found
    assert [use for use in uses if not allowed(use, frozenset())] != []


def test_the_check_lets_pure_code_through() -> None:
    source = (
        "import re\nfrom datetime import timezone\nfrom pstore_archiver.units import parse_size\n"
        "from pstore_archiver import times\nre.compile('x').sub('', 'y')\n"
        "def f(moment):\n    return moment.astimezone(timezone.utc)\n"
        "if typing.TYPE_CHECKING:\n    from pathlib import Path\n"  # types only
    )
    uses = outside_uses(ast.parse(source))
    assert [use for use in uses if not allowed(use, frozenset())] == []
