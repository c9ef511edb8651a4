"""Loading policy files: paths -> documents -> validated, defaulted policies.

:func:`load_policies` is what both ``autoscaler validate`` and the control loop call.
It never raises for bad input: every problem becomes an error :class:`Issue` naming
the file, line and field, and a bad document never hides the others. What a document
may be is described in :mod:`autoscaler.policy.document`.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

from autoscaler.policy import source
from autoscaler.policy.checks import names_an_object
from autoscaler.policy.document import HPA_KIND, to_policy
from autoscaler.policy.issues import FieldPath, Issue, format_path, line_of
from autoscaler.policy.model import KIND, ScalingPolicy

YAML_SUFFIXES: Final = (".yaml", ".yml")
STDIN: Final = "-"
STDIN_NAME: Final = "<stdin>"
LIST_KIND: Final = "List"
_KIND: Final = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")
Foreign = Literal["error", "warn", "skip"]
"""What a document of a kind that is not a policy is: an error (a policy folder holds
policies only), or skipped with a warning, or skipped silently (``validate`` of a
folder of manifests, ``--only-policies``)."""


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A valid policy with the API server's defaults applied, and where it came from.

    ``written`` is the document as written (before defaults; lint rules need to know
    what the user set). ``origin`` is the apiVersion/kind of the document, so a policy
    read from an HPA manifest says so.
    """

    policy: ScalingPolicy
    written: ScalingPolicy
    file: str
    line: int
    origin: str
    lines: dict[FieldPath, int] = field(default_factory=dict, repr=False)

    def line_of(self, path: FieldPath) -> int:
        """The line ``path`` was written on, or that of its nearest written parent."""
        return line_of(self.lines, path, default=self.line)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A document with errors that still names the workload it would scale.

    A policy file has no object to carry conditions, so the control loop reports such a
    document's problems on that workload (an event), where ``kubectl describe`` shows
    them. ``api_version`` is ``""`` when the document does not set one.
    """

    namespace: str
    api_version: str
    kind: str
    name: str
    issues: tuple[Issue, ...]


@dataclass(slots=True)
class LoadResult:
    """Everything found under the given paths: valid policies, errors, and counts."""

    policies: list[LoadedPolicy] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    documents: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Issue] = field(default_factory=list)


def load_policies(paths: Iterable[str], *, foreign: Foreign = "error") -> LoadResult:
    """Read every policy under ``paths`` (files, or folders searched for *.yaml/*.yml;
    ``-`` is standard input). A ``kind: List`` (``kubectl get -o yaml``) counts as its
    items; documents of other kinds are handled as ``foreign`` says."""
    result = LoadResult()
    for file in _expand(paths, result.errors):
        shown = STDIN_NAME if file == STDIN else file
        result.files.append(shown)
        _load_file(file, result, name=shown, foreign=foreign)
    _check_unique(result)
    return result


def _expand(paths: Iterable[str], errors: list[Issue]) -> Iterator[str]:
    """The files to read, each once, in the order given (folders sorted)."""
    seen: set[str] = set()
    for given in paths:
        if given == STDIN:
            if given not in seen:
                seen.add(given)
                yield given
            continue
        if os.path.isdir(given):
            found = sorted(_walk(given))
            if not found:
                errors.append(
                    Issue("error", given, None, "", "no YAML files (*.yaml, *.yml) found")
                )
            odd = source.irregular(found)
            errors += [Issue("error", f, None, "", "not a regular file: skipped") for f in odd]
            found = [f for f in found if f not in odd]
        elif os.path.lexists(given):
            found = [given]
        else:
            errors.append(Issue("error", given, None, "", "no such file or directory"))
            continue
        for file in found:
            key = os.path.realpath(file)
            if key not in seen:
                seen.add(key)
                yield file


def _walk(folder: str) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                yield os.path.join(root, name)


def _load_file(file: str, result: LoadResult, *, name: str, foreign: Foreign) -> None:
    try:
        raw = _read_stdin() if file == STDIN else source.read_bounded(file)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        result.errors.append(Issue("error", file, None, "", f"cannot read: {reason.lower()}"))
        return
    text = source.decode(raw)
    if isinstance(text, source.Problem):
        result.errors.append(Issue("error", name, text.line, "", text.message))
        return
    found = 0
    for item in source.parse(text):
        if isinstance(item, source.Problem):
            result.errors.append(Issue("error", name, item.line, "", item.message))
            continue
        found += 1
        for document in _items(item):
            if _is_foreign(document, name=name, foreign=foreign, result=result):
                continue
            result.documents += 1
            _load_document(document, file=name, result=result)
    if found == 0 and not any(e.file == name for e in result.errors):
        result.errors.append(Issue("error", name, None, "", "no documents (the file is empty)"))


def _read_stdin() -> bytes:
    """Standard input, at most one byte past the size limit (as a file is read)."""
    return sys.stdin.buffer.read(source.MAX_BYTES + 1)


def _items(doc: source.Document) -> Iterator[source.Document]:
    """The document itself, or each item of a ``kind: List``, with its own lines."""
    data = doc.data
    items = data.get("items") if isinstance(data, dict) else None
    is_list = isinstance(data, dict) and data.get("kind") == LIST_KIND
    if doc.problems or not (is_list and isinstance(items, list)):
        yield doc
        return
    by_item: dict[object, dict[FieldPath, int]] = {}
    for path, number in doc.lines.items():  # one pass: a List may hold a thousand items
        if len(path) > 2 and path[0] == "items":
            by_item.setdefault(path[1], {})[path[2:]] = number
    for index, item in enumerate(items):
        yield source.Document(
            data=item, line=doc.line_of(("items", index)), lines=by_item.get(index, {})
        )


def _other_kind(data: object) -> bool:
    """Whether ``data`` is a Kubernetes object of a kind that is plainly not a policy.

    A kind that looks like a typo of a policy kind, or one in the HPA's API group, is
    not "other": such a document stays an error rather than go unchecked.
    """
    if not isinstance(data, dict):
        return False
    kind, version = data.get("kind"), data.get("apiVersion")
    if not (isinstance(kind, str) and isinstance(version, str) and _KIND.fullmatch(kind)):
        return False
    if kind in (KIND, HPA_KIND) or version.startswith("autoscaling/"):
        return False
    return not difflib.get_close_matches(kind, (KIND, HPA_KIND), n=1, cutoff=0.8)


def _is_foreign(doc: source.Document, *, name: str, foreign: Foreign, result: LoadResult) -> bool:
    """Whether ``doc`` is of a kind no policy is (and so is skipped, by ``foreign``)."""
    if foreign == "error" or doc.problems or not _other_kind(doc.data):
        return False
    assert isinstance(doc.data, dict)  # _other_kind checked it
    kind = doc.data["kind"]
    if foreign == "warn":
        message = f"{kind} is not a policy: skipped (--only-policies skips it silently)"
        result.skipped.append(Issue("warning", name, doc.line_of(("kind",)), "kind", message))
    else:
        result.skipped.append(Issue("warning", name, doc.line, "kind", f"{kind}: skipped"))
    return True


def _load_document(doc: source.Document, *, file: str, result: LoadResult) -> None:
    if doc.problems:
        result.errors += [Issue("error", file, p.line, "", p.message) for p in doc.problems]
        return
    loaded = to_policy(doc.data)
    if isinstance(loaded, list):
        issues = tuple(
            Issue("error", file, doc.line_of(f.path), format_path(f.path), f.message)
            for f in loaded
        )
        result.errors += issues
        rejected = _rejected(doc.data, issues)
        if rejected is not None:
            result.rejected.append(rejected)
        return
    written, origin = loaded
    result.policies.append(
        LoadedPolicy(
            policy=written.model_copy(update={"spec": written.spec.with_defaults()}),
            written=written,
            file=file,
            line=doc.line,
            origin=origin,
            lines=doc.lines,
        )
    )


def _rejected(data: object, issues: tuple[Issue, ...]) -> Rejected | None:
    """The workload a broken document names, if its namespace and target can be read."""
    metadata = data.get("metadata") if isinstance(data, dict) else None
    spec = data.get("spec") if isinstance(data, dict) else None
    ref = spec.get("scaleTargetRef") if isinstance(spec, dict) else None
    if not isinstance(metadata, dict) or not isinstance(ref, dict):
        return None
    namespace = metadata.get("namespace", "default")
    api_version, kind, name = ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", "")
    if not (
        isinstance(namespace, str)
        and isinstance(api_version, str)
        and isinstance(kind, str)
        and isinstance(name, str)
        and kind
        and names_an_object(namespace, name)
    ):
        return None  # no event could be about it
    return Rejected(namespace, api_version, kind, name, issues)


def _check_unique(result: LoadResult) -> None:
    """Two policies may not share a name in a namespace (as two HPAs cannot)."""
    first: dict[tuple[str, str], LoadedPolicy] = {}
    kept = []
    for loaded in result.policies:
        key = loaded.policy.key
        earlier = first.setdefault(key, loaded)
        if earlier is loaded:
            kept.append(loaded)
            continue
        result.errors.append(
            Issue(
                "error",
                loaded.file,
                loaded.line_of(("metadata", "name")),
                "metadata.name",
                f'duplicate policy "{key[1]}" in namespace "{key[0]}" '
                f"(first defined at {earlier.file}:{earlier.line_of(('metadata', 'name'))})",
            )
        )
    result.policies = kept
