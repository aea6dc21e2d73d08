"""Every clause id of both policy files is named by at least one test.

A test names a clause when the id appears in a string inside a test function (its body or its
parametrize decorator) in this directory; a comment does not count.
"""

import ast
import tomllib
from pathlib import Path

HERE = Path(__file__).parent
POLICIES = HERE.parents[2] / "worker" / "policy" / "policies"


def clause_ids_of_both_policies() -> list[str]:
    ids: list[str] = []
    for name in ("mittrik", "dmly"):
        ids += list(tomllib.loads((POLICIES / f"{name}.toml").read_text())["clauses"])
    return ids


def strings_in_tests() -> dict[str, set[str]]:
    """Test function name -> every string constant it contains."""
    found: dict[str, set[str]] = {}
    for path in HERE.glob("test_*.py"):
        if path.name == Path(__file__).name:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found[f"{path.name}::{node.name}"] = {
                    inner.value
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Constant) and isinstance(inner.value, str)
                }
    return found


def test_both_policy_files_define_clauses():
    ids = clause_ids_of_both_policies()
    assert "M1.annual" in ids and "D6.dispute" in ids
    assert len(ids) == len(set(ids)) == 25


def test_every_clause_id_of_both_policies_has_a_test_naming_it():
    tests = strings_in_tests()
    uncovered = [
        clause_id
        for clause_id in clause_ids_of_both_policies()
        if not any(clause_id in text for texts in tests.values() for text in texts)
    ]
    assert uncovered == [], f"clause ids without a test naming them: {uncovered}"
