"""Command lines from dataclasses with tyro, where every error is one line and exit status 2.

Shared by ``jaxbeer.play``, the learners and the benchmarks. The line is built
from tyro's structured error event (which flag, which value), not from the box
it draws, so it does not change with tyro's rendering.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn, Sequence, TypeVar

import tyro

try:  # tyro's structured parse errors (tyro >= 1.0); without them the line is generic
    from tyro._errors import (
        BadValue,
        InstantiationFailure,
        InvalidChoice,
        MissingArgs,
        UnrecognizedArgs,
        on_parse_error,
    )
except ImportError:  # pragma: no cover - depends on the installed tyro
    on_parse_error = None

T = TypeVar("T")


def exit_with_usage_error(message: str) -> NoReturn:
    """Print ``error: <first line of message>`` on stderr and exit with status 2."""
    print(f"error: {message.splitlines()[0] if message else 'invalid arguments'}", file=sys.stderr)
    raise SystemExit(2)


class _ParseError(Exception):
    """Raised by the tyro hook to take over its error output."""


def parse_flags(config_cls: type[T], argv: Sequence[str], description: str | None = None) -> T:
    """``tyro.cli`` without validation; a parse error becomes one line and exit status 2.

    The line is built from tyro's structured error event (which flag, which
    value), not from the box it draws, so it does not change with tyro's rendering.
    """
    if on_parse_error is None:  # pragma: no cover
        return tyro.cli(config_cls, args=list(argv), description=description)

    def hook(event: Any) -> None:
        raise _ParseError(_describe_parse_error(event))

    try:
        with on_parse_error(hook):
            return tyro.cli(config_cls, args=list(argv), description=description)
    except _ParseError as error:
        exit_with_usage_error(str(error))


def _describe_parse_error(event: Any) -> str:
    argument = getattr(event, "argument", None)
    name = getattr(getattr(argument, "field", None), "extern_name", None)
    option = "--" + name.replace("_", "-") if name else "an argument"
    if isinstance(event, UnrecognizedArgs):
        return f"unrecognized argument(s): {' '.join(event.tokens)} (see --help)"
    if isinstance(event, InstantiationFailure):
        return f"Error parsing {option}: {event.message}"
    if isinstance(event, InvalidChoice):
        return f"{option} must be one of {list(event.choices)}, got {event.value!r}"
    if isinstance(event, BadValue):
        if event.offending_value is None:
            return f"{option} needs a value"
        return f"{option} cannot take {event.offending_value!r}"
    if isinstance(event, MissingArgs):
        return "missing required argument(s) (see --help)"
    return f"invalid arguments ({type(event).__name__}; see --help)"
