"""Atomic writes: the new content or the old one, never a torn file, and no temporary left behind."""

from __future__ import annotations

import json
import os

import pytest

from algorithms.common import files


def test_write_atomically_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.json"
    files.write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    files.write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(os.listdir(target.parent)) == ["out.json"]


def test_a_failed_write_keeps_the_old_content(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    files.write_atomically(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomically(target, "new")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]
