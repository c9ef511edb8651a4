"""A watch-based cache of one kind of object (client-go's "informer", minimal).

LIST once, then WATCH from the list's resourceVersion and apply every event to a local
map, so a sync reads the world from memory instead of listing it. A broken watch is
resumed from the last resourceVersion seen; "410 Gone" (that version was compacted
away) means a fresh LIST; failures back off 1, 2, 4 ... 30 s. Bookmarks keep the
resumption point current on quiet streams.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import urllib3

from autoscaler.kube.api import Api
from autoscaler.ports import JSON, Gone, LoopError

log = logging.getLogger("autoscaler.informer")
T = TypeVar("T")
WATCH_SECONDS = 300
MAX_BACKOFF = 30.0

__all__ = ["Gone", "Informer"]


class Informer(Generic[T]):
    """Keeps ``transform(object)`` of every object at ``path``, keyed by namespace/name."""

    def __init__(
        self,
        api: Api,
        path: str,
        transform: Callable[[JSON], T],
        *,
        name: str = "",
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        self.path = path
        self.transform = transform
        self.name = name or path
        self.on_change = on_change
        self.synced = threading.Event()
        self.stop = threading.Event()
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()
        self._version = ""
        self.relists = 0
        self.events = 0

    def get(self, namespace: str, name: str) -> T | None:
        with self._lock:
            return self._items.get(f"{namespace}/{name}")

    def items(self) -> list[T]:
        with self._lock:
            return list(self._items.values())

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"informer {self.name}", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                if not self._version:
                    self._list()
                    backoff = 1.0  # a fresh list is progress: start backing off anew
                self._watch()
                backoff = 1.0
            except Gone:
                self._version = ""  # compacted: the next round lists again
            except (LoopError, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                log.warning("watch of %s failed (retry in %.0f s): %s", self.name, backoff, exc)
                self.stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            except Exception:  # a dead thread would freeze the cache for good: list again
                log.exception("watch of %s failed unexpectedly; listing again", self.name)
                self._version = ""
                self.stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)

    def _list(self) -> None:
        listing = self.api.call("GET", self.path)
        items = {self._key(obj): self.transform(obj) for obj in listing.get("items") or []}
        with self._lock:
            self._items = items
        self._version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        self.relists += 1
        if self.on_change is not None:
            self.on_change("*")
        self.synced.set()

    @staticmethod
    def _key(obj: JSON) -> str:
        meta = obj.get("metadata") or {}
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"

    def _watch(self) -> None:
        query = [
            ("watch", "1"),
            ("resourceVersion", self._version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(WATCH_SECONDS)),
        ]
        for event in self._stream(query):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone(str(obj.get("message", "resourceVersion too old")))
                raise LoopError(f"watch error: {obj.get('message', obj)}")
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self._version = str(version)
            if kind == "BOOKMARK":
                continue
            key = self._key(obj)
            with self._lock:
                if kind == "DELETED":
                    self._items.pop(key, None)
                else:
                    self._items[key] = self.transform(obj)
            self.events += 1
            if self.on_change is not None:
                self.on_change(key)
            if self.stop.is_set():
                return

    def _stream(self, query: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """The watch's JSON lines, as they arrive."""
        response = self.api.stream("GET", self.path, query=query, read_timeout=WATCH_SECONDS + 30)
        buffer = b""
        try:
            for chunk in response.stream(64 * 1024, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
                if self.stop.is_set():
                    return
        finally:
            response.release_conn()
