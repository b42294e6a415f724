"""The learners (one module each), their shared pieces in ``common``, and ``load_policy``.

``algorithms.load_policy(run_dir)`` is resolved on first use, so that
``python -m algorithms.ippo`` does not import every learner first.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LoadedPolicy", "PolicyLoadError", "load_policy"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from algorithms import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'algorithms' has no attribute {name!r}")
