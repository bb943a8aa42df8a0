"""The import graph keeps the shape docs/architecture.md draws: layers that import only downwards, no cycles.

Every `import`/`from … import` of a `sentiric_pbx` module is read from the source (nothing is executed,
imports inside functions included). A component is a top-level package or module (`dialog`, `cli_calls`);
inside `telephony/` each ingress package is one too, so an ingress cannot grow a dependency on another by
accident.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sentiric_pbx"

LAYERS: list[set[str]] = [
    {"call", "aio"},
    {"config", "metrics", "logging", "systemd_notify"},
    {"audio", "models"},
    {"engines", "storage"},
    {"integrations"},
    {"postcall"},
    {"dialog", "telephony", "console"},
    {"daemon", "doctor"},
    {"tools"},
    {"selftest"},
    {"cli_common"},
    {"cli_ami", "cli_calls", "cli_crm", "cli_models", "cli_nlu", "cli_selftest"},
    {"cli"},
]
"""Bottom first. A component may import its own layer's *own* modules and any lower layer, nothing above:
`call/` is plain data and protocols, the engines/stores know nothing of calls in progress, the dialog and the
telephony edges never import each other, and nothing imports the daemon or the CLI."""

TELEPHONY_LAYERS: list[set[str]] = [
    {"telephony.edge", "telephony.registry", "telephony.ingress", "telephony.lifecycle"},
    {"telephony.audiosocket", "telephony.twilio", "telephony.webrtc", "telephony.freeswitch"},
    {"telephony.asterisk", "telephony.ari"},
]
"""Inside telephony/: the shared edge, then the ways in. AMI and ARI come last because they attach to the
AudioSocket listener (caller metadata and transfers for its calls; AudioSocket externalMedia)."""

MAX_MODULE_LINES = 520


def component(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return "call"  # the package's own __init__ (its version, its path) sits below everything
    if parts[0] == "telephony" and len(parts) > 1:
        sub = parts[1]
        return f"telephony.{sub}"
    return parts[0]


def imports() -> dict[str, set[tuple[str, str]]]:
    """component → {(imported component, "file:line")}."""
    edges: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        src = component(module)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sentiric_pbx":
                if node.module == "sentiric_pbx":
                    targets = [f"sentiric_pbx.{a.name}" for a in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "sentiric_pbx"]
            for target in targets:
                dst = component(target)
                if dst != src:
                    edges[src].add((dst, f"{rel}.py:{node.lineno}"))
    return edges


def layer_of(name: str, layers: list[set[str]]) -> int:
    top = name.split(".")[0] if name.startswith("telephony.") and layers is LAYERS else name
    for i, layer in enumerate(layers):
        if top in layer:
            return i
    raise AssertionError(f"{name} is in no layer: add it to tests/test_architecture.py and docs/architecture.md")


def test_every_import_goes_down_a_layer() -> None:
    wrong = []
    for src, targets in imports().items():
        src_top = "telephony" if src.startswith("telephony.") else src
        for dst, where in targets:
            dst_top = "telephony" if dst.startswith("telephony.") else dst
            if src_top == dst_top:
                continue
            if layer_of(dst_top, LAYERS) >= layer_of(src_top, LAYERS):
                wrong.append(f"{where}: {src} imports {dst}")
    assert not wrong, "imports up or across a layer:\n" + "\n".join(sorted(wrong))


def test_telephony_ingresses_import_only_the_shared_edge_and_what_they_attach_to() -> None:
    wrong = []
    for src, targets in imports().items():
        if not src.startswith("telephony."):
            continue
        for dst, where in targets:
            if dst.startswith("telephony.") and layer_of(dst, TELEPHONY_LAYERS) >= layer_of(src, TELEPHONY_LAYERS):
                if not (src == dst or {src, dst} <= TELEPHONY_LAYERS[0]):
                    wrong.append(f"{where}: {src} imports {dst}")
    assert not wrong, "telephony/ imports up or across:\n" + "\n".join(sorted(wrong))


def test_no_component_depends_on_itself_through_another() -> None:
    edges = {src: {dst for dst, _ in targets} for src, targets in imports().items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    cycles = sorted(c for c in edges if reaches(c, c, set()))
    assert not cycles, f"components in an import cycle: {cycles}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_a_sitting(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines; split it by what its parts do"


def test_nothing_awaits_through_asyncio_wait_for() -> None:
    """On Python 3.11 `asyncio.wait_for` loses a cancel that lands as its wait ends (sentiric_pbx/aio.py); a
    stopped task then runs on. `aio.within()` is the same wait without that."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "wait_for" and ast.unparse(node.value) == "asyncio":
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, f"asyncio.wait_for in {found}: use sentiric_pbx.aio.within"
