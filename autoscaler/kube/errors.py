"""Our own errors for failed reads and writes at the edge (not the HTTP library's).

The loop, the adapter and the simulator tell a vanished object from a conflict from an
outage by these types, whichever client produced them. Messages are one line for users.
"""

from __future__ import annotations


class LoopError(Exception):
    """A failed read or write at the edge; the message is one line for users."""


class NotFound(LoopError):
    """The object (or the API serving it) does not exist."""


class Conflict(LoopError):
    """The object changed since it was read (HTTP 409)."""


class Gone(LoopError):
    """HTTP 410: the resourceVersion to resume a watch from is too old: list again."""


class Unavailable(LoopError):
    """The API or source is unreachable, overloaded (429) or failing (5xx)."""


class Forbidden(LoopError):
    """The service account lacks a permission; the message names the verb and resource."""
