"""The engine imports no framework and touches nothing outside (the loader reads policy files)."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[3] / "worker" / "policy"
MODULES = sorted(PACKAGE.rglob("*.py"))
# The input bounds (nesting, 64-bit integers) are shared with the receiver; the policy loader may
# use them because they too import only the standard library (checked below).
INPUT_BOUNDS = PACKAGE.parent / "input_bounds.py"
# So may its decisions the helper printing a record's fields as JSON, standard library only too.
JSON_FIELDS = PACKAGE.parent / "json_fields.py"
SHARED = [INPUT_BOUNDS, JSON_FIELDS]


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", [*MODULES, *SHARED], ids=lambda path: path.name)
def test_policy_modules_import_only_the_standard_library_and_the_policy_package(module):
    for name in _imports(ast.parse(module.read_text())):
        top = name.split(".")[0]
        allowed = name.startswith("worker.policy") or name in {f"worker.{m.stem}" for m in SHARED}
        assert top in sys.stdlib_module_names or allowed, name


@pytest.mark.parametrize(
    "module", [m for m in MODULES if m.name != "loader.py"], ids=lambda path: path.name
)
def test_policy_rules_read_no_clock_no_environment_and_no_files(module):
    tree = ast.parse(module.read_text())
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not called & {"now", "utcnow", "today", "time", "open", "read_text", "getenv"}
    assert "environ" not in module.read_text()


def test_the_policy_package_loads_without_flask_celery_sqlalchemy_or_stripe():
    import subprocess

    code = (
        "import sys, worker.policy, worker.policy.decide\n"
        "bad = {'flask', 'celery', 'sqlalchemy', 'stripe'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
