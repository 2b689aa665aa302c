"""RESULTS' sections: each benchmark rewrites its own, and a run with other settings one beside it."""
from eval.results import with_settings, write_section


def test_a_section_is_rewritten_in_place_and_the_others_are_kept(tmp_path):
    page = tmp_path / "RESULTS.md"
    write_section("one", "## One\n\nfirst", page)
    write_section("two", "## Two\n\nsecond", page)
    write_section("one", "## One\n\nagain", page)
    text = page.read_text()
    assert "again" in text and "first" not in text and "second" in text
    assert text.index("again") < text.index("second")  # where it was, not appended


def test_settings_name_a_section_of_their_own_and_the_defaults_keep_the_plain_one(tmp_path):
    assert with_settings("latency", "## Latency", []) == ("latency", "## Latency")
    name, title = with_settings("latency", "## Latency", ["SPARSE_FIRST_OCTAVE=-0.25", "BLAS_THREADS=0"])
    assert name == "latency-sparse_first_octave=-0.25-blas_threads=0"
    assert title == "## Latency, SPARSE_FIRST_OCTAVE=-0.25, BLAS_THREADS=0"
    page = tmp_path / "RESULTS.md"
    write_section("latency", "## Latency\n\ndefault", page)
    write_section(name, f"{title}\n\nfaster", page)
    assert "default" in page.read_text() and "faster" in page.read_text()
