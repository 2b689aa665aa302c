"""Every table in RESULTS is remade by a line of the Makefile (``make weights``, ``make bench``,
``make gpu-check``): a section whose command no target runs goes stale unseen."""
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a comparison with the weights of a past commit, run by hand when weights are replaced
BY_HAND = {("eval.weights", "--before")}


def commands(text: str, pattern: str) -> set[tuple[str, tuple[str, ...]]]:
    """(module, its arguments sorted) of every match of ``pattern`` (groups: module, arguments)."""
    return {(m[0], tuple(sorted(shlex.split(m[1])))) for m in re.findall(pattern, text, re.M)}


def test_each_results_section_is_made_by_the_makefile():
    made = commands((ROOT / "Makefile").read_text().replace("\\\n", " "),
                    r"^\t\$\(PY\) -m (eval\.\S+)((?: [^#\n]*?)?)(?:\s+#.*)?$")
    shown = commands((ROOT / "docs" / "RESULTS.md").read_text(), r"^`python -m (eval\.\S+?)((?: [^`]*)?)`")
    assert len(shown) > 50 and len(made) > 50
    missing = {c for c in shown - made if not any(c[0] == mod and flag in c[1] for mod, flag in BY_HAND)}
    assert not missing, sorted(missing)
