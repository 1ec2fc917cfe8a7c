"""No test may need the team's dataset folder beside the clone (../shared): CI runs on a clean
clone. A test that wants real data builds it, serves it from a loopback server, or lives in
examples/ or benchmarks/ (see scripts/examples.sh)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _outside_repo_reads(path: Path, root: Path = ROOT) -> list[str]:
    """Lines of `path` naming the shared folder, or climbing above the repository root."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    depth = len(path.relative_to(root).parts) - 1  # parents[depth] is the repository root
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.replace("\\", "/")
            if (
                text == "shared"
                or "shared/datasets" in text
                or "../shared" in text
                or text.startswith("/work/shared")
                or text == "FASTLEARN_DATASETS"
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parents"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)
            and node.slice.value > depth
        ):
            found.append(
                f"{path.relative_to(root)}:{node.lineno}: parents[{node.slice.value}] "
                "is above the repository"
            )
    return found


def test_no_test_reads_the_shared_folder():
    found = [
        hit
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__)
        for hit in _outside_repo_reads(path)
    ]
    assert not found, "Tests must not need ../shared (build the data instead):\n" + "\n".join(found)


def test_the_check_catches_a_shared_path(tmp_path):
    probe = tmp_path / "tests" / "vision" / "test_probe.py"  # as deep as a real test module
    probe.parent.mkdir(parents=True)
    probe.write_text(
        'from pathlib import Path\nA = Path(__file__).parents[3] / "shared" / "x"\n'
        'B = "/work/shared/datasets/mnist.tgz"\nC = Path(__file__).parents[1]\n'
    )
    hits = _outside_repo_reads(probe, tmp_path)
    assert [h.split(":")[1] for h in hits].count("2") == 2 and len(hits) == 3, hits
