"""JSON or YAML text to plain data, bounded against hostile input.

JSON is tried first (it is what machines send, and the C parser is fast); anything else
is read as YAML with the safe loader. YAML aliases let a few hundred bytes stand for
billions of nodes ("billion laughs"), so the loaded data is walked once with a budget
and refused past it, before any caller iterates over it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

MAX_NODES = 5_000_000


class DataError(ValueError):
    """Text that is neither JSON nor YAML, or too large once aliases are expanded."""


def load_data(text: str, *, max_nodes: int = MAX_NODES) -> Any:
    """Parse ``text`` as JSON, else as a single YAML document."""
    with contextlib.suppress(ValueError):
        return json.loads(text)
    import yaml  # only for text that is not JSON: it costs a batch of JSON 10 ms to import

    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DataError(f"{where}not valid JSON or YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise DataError(f"not valid JSON or YAML: {exc}") from None
    _check_size(data, max_nodes)
    return data


def _check_size(data: Any, budget: int) -> None:
    """Count nodes as a reader would visit them (aliases expanded), up to ``budget``."""
    stack = [data]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            raise DataError(
                f"document expands to more than {budget:,} values (YAML aliases?); refusing it"
            )
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
