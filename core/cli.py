"""What every command-line entry point shares: one-line errors for bad options, and range-checked numbers.

Kept free of torch so that --help and bad options are answered before the heavy imports.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a bad option is reported as one line, "error: ...", like every other bad
    input."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see --help)\n")


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's help ends with its default, unless the help already says it or there is none to say
    (None, False, an empty list): argparse's own formatter writes "(default: None)" after a default spelt out
    in words."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        nothing = (
            action.default is None
            or action.default is False
            or action.default == []
            or action.default == argparse.SUPPRESS
        )
        shown = action.option_strings and not nothing
        if not shown or "default" in help_text:
            return help_text
        default = " ".join(map(str, action.default)) if isinstance(action.default, list) else action.default
        return f"{help_text} (default: {default})"


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than `minimum` (a count of frames, workers, folds ...)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


def detection_scale_option(text: str) -> float | None:
    """--detection-scale: 'auto' (None: the rule by resolution) or a positive factor."""
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'auto' nor a number") from None
    if not 0 < value <= 4:
        raise argparse.ArgumentTypeError(f"must be in (0, 4], got {value}")
    return value
