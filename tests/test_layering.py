"""Imports flow one way (../shared/DESIGN.md): every module's imports are walked and checked against the
declared layers; simpy only in engine/, matplotlib only in report/, numba only in kernels/."""

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"

# Part → layer. A part may import parts of a strictly lower layer (and itself); parts of one layer are
# siblings that must not import each other. `errors` is below everything.
LAYERS = {
    "errors": 0,
    "kernels": 1,
    "config": 1,
    "ir": 2,
    "hardware": 3,
    "workloads": 3,
    "mapping": 4,
    "engine": 5,
    "results": 6,
    "serving": 7,  # requests, batching policies and the iteration loop, over mapping and engine
    "api": 8, "overrides": 8, "progress": 8,  # the session layer
    "report": 9, "sweep": 9,
    "cli": 10, "notebook": 10,  # front ends: the command line, and the Python API for notebooks
}
KERNEL_CALLERS = {"kernels", "hardware", "engine"}  # kernels are reached only through timing and unit models
ONLY_IN = {"simpy": {"engine"}, "matplotlib": {"report"}, "numba": {"kernels"}}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(path)
        if part == "__init__":
            continue
        where = path.relative_to(PACKAGE.parent)
        for name, line in _imports(path):
            top, *rest = name.split(".")
            if top == "simulator" and rest:
                target = rest[0]
                if target == part:
                    continue
                if target not in LAYERS or part not in LAYERS:
                    found.append(f"{where}:{line}: {name}: part not declared in LAYERS")
                elif LAYERS[target] >= LAYERS[part]:
                    found.append(f"{where}:{line}: {part} (layer {LAYERS[part]}) imports {name} "
                                 f"(layer {LAYERS[target]})")
                elif target == "kernels" and part not in KERNEL_CALLERS:
                    found.append(f"{where}:{line}: {part} calls kernels directly; go through hardware/")
            elif top in ONLY_IN and part not in ONLY_IN[top]:
                found.append(f"{where}:{line}: {top} imported outside {', '.join(sorted(ONLY_IN[top]))}/")
    return found


def test_every_part_is_declared():
    parts = {_part(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert parts <= set(LAYERS), sorted(parts - set(LAYERS))


def test_imports_flow_one_way():
    assert violations() == []


def test_the_checker_sees_a_wrong_import(tmp_path, monkeypatch):
    """The check itself can fail: a hardware module importing workloads, and simpy in results."""
    fake = tmp_path / "simulator"
    (fake / "hardware").mkdir(parents=True)
    (fake / "results").mkdir()
    (fake / "hardware" / "bad.py").write_text("from simulator.workloads.model import Model\n")
    (fake / "results" / "bad.py").write_text("import simpy\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = violations()
    assert len(found) == 2
    assert "hardware (layer 3) imports simulator.workloads.model (layer 3)" in found[0]
    assert "simpy imported outside engine/" in found[1]
