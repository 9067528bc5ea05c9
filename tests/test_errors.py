"""The user-error family's helpers."""

from __future__ import annotations

from rsdml.errors import brief


def test_brief_keeps_the_first_line_and_cuts_it():
    error = RuntimeError("weights only load failed.\nRe-running with ... (ten lines of advice)")
    assert brief(error) == "RuntimeError: weights only load failed."
    long = ValueError("x" * 300)
    text = brief(long, limit=50)
    assert text.startswith("ValueError: x") and text.endswith("...")
    assert len(text) == len("ValueError: ") + 50
    assert brief(KeyError()) == "KeyError"
