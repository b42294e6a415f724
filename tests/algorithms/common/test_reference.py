"""The base-stock reference cache: computed once, reused, and rebuilt with a warning when damaged."""

from __future__ import annotations

import json

import jaxbeer
from algorithms.common import reference


def test_the_cache_is_reused_and_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PLOOTO_CACHE_DIR", str(tmp_path))
    env, params = jaxbeer.make("basic", horizon=8)
    first = reference.base_stock_reference(env, params, "basic", num_episodes=2)
    assert len(first["levels"]) == 4 and first["key"].startswith("basic-")
    assert json.loads(reference.cache_path().read_text())[first["key"]] == first
    assert reference.base_stock_reference(env, params, "basic", num_episodes=2) == first  # from the cache

    reference.cache_path().write_text('{"basic-')  # a torn write by some other tool
    again = reference.base_stock_reference(env, params, "basic", num_episodes=2)
    assert again["levels"] == first["levels"]
    err = capsys.readouterr().err
    assert f"base-stock cache {reference.cache_path()} is damaged" in err
    assert json.loads(reference.cache_path().read_text())[first["key"]]["levels"] == first["levels"]
