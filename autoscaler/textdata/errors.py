"""The limits every reader enforces, and the one error they raise."""

from __future__ import annotations

from typing import Final

MAX_DEPTH: Final = 64
"""Nested collections allowed; ``[]`` is one level, ``[[]]`` two."""

MAX_NODES: Final = 5_000_000
"""Values a reader may visit in one document, YAML aliases expanded."""

_LONGEST_PATH: Final = 60  # past it a path is cut: a path 64 levels deep is unreadable


class DataError(ValueError):
    """Text that is not valid JSON or YAML, or that breaks a limit; says where.

    ``line`` and ``column`` count from 1. They stay separate from the message so that a
    reader of one item of a larger document can move them to the document's frame.
    """

    def __init__(
        self, problem: str, *, path: str = "", line: int | None = None, column: int = 1
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        if len(path) > _LONGEST_PATH:  # its start says where the nesting begins
            path = path[:_LONGEST_PATH] + "..."
        self.path = path
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.path}: {self.problem}{where}" if self.path else self.problem + where

    def moved(self, line: int, column: int) -> DataError:
        """The same error for text that starts at ``line``, ``column`` of a larger one."""
        if self.line is None:
            return self
        shifted_column = self.column + column - 1 if self.line == 1 else self.column
        return DataError(
            self.problem, path=self.path, line=self.line + line - 1, column=shifted_column
        )
