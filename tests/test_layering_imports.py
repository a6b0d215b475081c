"""The import graph follows docs/DEVELOPING.md: test helpers stay in tests/, lowering does not lean on the
reference executor, the synthetic builders reach production code only where it needs them, and the hardware
model (fq_hls.hw, home of the sized engine) sits below the cost model, the commands and the runtime."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_MODULES = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests", "conftest"}

# production modules that may build synthetic models or images (fq_hls.synthetic): the report's rows for a
# network without --model, the HLS testbench's small layer, the commands' images when no --data is given
SYNTHETIC_USERS = {"fq_hls.cost.report", "fq_hls.cost.workloads", "fq_hls.build.testbench", "fq_hls.commands.lower",
                   "fq_hls.commands.csim", "fq_hls.commands.export"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (top level or inside functions), `from X import y`
    giving both X and X.y (y may be a submodule)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def _importers(target: str, folders=("fq_hls", "bench")) -> dict[str, list[str]]:
    out = {}
    for p in _sources(*folders):
        hits = sorted(m for m in imports_of(p) if m == target or m.startswith(target + "."))
        if hits:
            out[_module_name(p)] = hits
    return out


def test_the_import_reader_resolves_relative_imports():
    mod = ROOT / "fq_hls" / "lower" / "lowering.py"
    got = imports_of(mod)
    assert "fq_hls.node_geometry" in got and "fq_hls.ir.ConvLayer" in got and "fq_hls.lower.requant" in got


def test_nothing_outside_tests_imports_a_test_helper():
    bad = {}
    for p in _sources("fq_hls", "bench"):
        hits = sorted(m for m in imports_of(p) if m.split(".")[0] in TEST_MODULES)
        if hits:
            bad[str(p.relative_to(ROOT))] = hits
    assert bad == {}
    assert not (ROOT / "fq_hls" / "testing.py").exists()


def test_lower_imports_nothing_from_reference():
    assert {m: h for m, h in _importers("fq_hls.reference").items() if m.startswith("fq_hls.lower")} == {}


def test_synthetic_models_reach_production_code_only_where_needed():
    users = {m for m in _importers("fq_hls.synthetic", folders=("fq_hls",))
             if not m.startswith("fq_hls.synthetic")}
    assert users <= SYNTHETIC_USERS, users - SYNTHETIC_USERS


@pytest.mark.parametrize("upper", ["fq_hls.cost", "fq_hls.commands", "fq_hls.runtime", "fq_hls.build",
                                   "fq_hls.codegen", "fq_hls.csim", "fq_hls.compress"])
def test_hw_sits_below(upper):
    assert {m: h for m, h in _importers(upper, folders=("fq_hls/hw",)).items()} == {}


def test_one_architecture_registry_and_one_dataset_reader():
    """ARCHS is defined once (fq_hls.archs) and the board's runtime reads datasets with the host's reader."""
    def defines_archs(n: ast.AST) -> bool:
        if isinstance(n, ast.AnnAssign):
            return getattr(n.target, "id", None) == "ARCHS"
        targets = n.targets if isinstance(n, ast.Assign) else []
        return any(getattr(t, "id", None) == "ARCHS" for t in targets)

    defs = [str(p.relative_to(ROOT)) for p in _sources("fq_hls", "bench")
            if any(defines_archs(n) for n in ast.walk(ast.parse(p.read_text())))]
    assert defs == ["fq_hls/archs.py"]
    assert not (ROOT / "fq_hls" / "runtime" / "datasets.py").exists()
    assert "fq_hls.datasets.load_images" in imports_of(ROOT / "fq_hls" / "commands" / "run.py")
