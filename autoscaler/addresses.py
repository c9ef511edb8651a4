"""``HOST:PORT`` as every listening flag takes it (``--listen``, the fault proxy's ``--control``).

One parser so that every command accepts the same spellings: ``127.0.0.1:8080``,
``0.0.0.0:8080``, ``localhost:0`` (0: any free port) and IPv6 in brackets, ``[::1]:8080``.
A bare IPv6 address (``::1:8080``) is refused: its last group could be the port.
"""

from __future__ import annotations


def host_port(text: str) -> tuple[str, int]:
    """``(host, port)`` from ``HOST:PORT``; ValueError with one line that quotes ``text``."""
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        bracketed = True
    else:
        bracketed = False
    valid = (
        colon
        and host
        and (bracketed or ":" not in host)
        and port.isascii()
        and port.isdigit()
        and int(port) <= 65535
    )
    if not valid:
        raise ValueError(
            "must be HOST:PORT with a port up to 65535, such as 127.0.0.1:8080 or [::1]:8080 "
            f"(got {text!r})"
        )
    return host, int(port)
