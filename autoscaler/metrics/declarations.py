"""Metric declarations: which PromQL query answers a metric name a policy uses.

One ``MetricDeclarations`` document lists the metrics; the control loop reads it to
serve Pods/Object/External metrics of policies, and the external-metrics adapter to
serve ``external.metrics.k8s.io`` (so both answer a name with the same query)::

    apiVersion: podscale.dev/v1alpha1
    kind: MetricDeclarations
    metadata: {name: default}
    spec:
      metrics:
        - name: http_requests_per_second   # the name a policy's metric uses
          type: Pods                       # Pods | Object | External
          query: >-
            sum by (namespace, pod) (rate(
              http_requests_total{namespace="{namespace}", {selector}}[1m]))
          maxAge: 60                       # seconds; an older sample is stale (missing)
          cacheTTL: 10                     # seconds; the adapter's cache lifetime (optional)

The template language is described in :mod:`autoscaler.metrics.promql`. Everything is
checked at load: unknown fields, unknown or misplaced placeholders, and the rules that
make a query's answer usable for its type: a Pods query aggregates ``by`` the ``pod``
label (and ``namespace`` too when it does not filter on ``{namespace}``, so pods of
different namespaces stay apart when one query serves all of them) unless it is a
plain selector such as a recording rule's series; only Object
queries may name the described object. The loader never raises for bad input: it
returns one-line issues, ``error: FILE:LINE: spec.metrics[0].query: MESSAGE``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from autoscaler.metrics import promql
from autoscaler.policy import source
from autoscaler.policy.issues import Issue, format_path, pydantic_findings, show
from autoscaler.policy.model import Wire

API_VERSION: Final = "podscale.dev/v1alpha1"
KIND: Final = "MetricDeclarations"
TYPES: Final = ("Pods", "Object", "External")
_MAX_AGE_LIMIT: Final = 86_400.0


class DeclarationsMeta(Wire):
    name: str


class MetricDeclaration(Wire):
    """One metric: its name, type, query template, and how old a sample may be."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$", max_length=253)
    type: str
    query: str = Field(min_length=1)
    max_age: float = Field(default=60.0, gt=0, le=_MAX_AGE_LIMIT)
    cache_ttl: float | None = Field(default=None, ge=0, le=_MAX_AGE_LIMIT, alias="cacheTTL")
    _template: promql.Template = PrivateAttr()

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in TYPES:
            raise ValueError(f"must be one of {', '.join(TYPES)} (got {show(value)})")
        return value

    @field_validator("query")
    @classmethod
    def _valid_template(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")  # None when the type itself was invalid
        try:
            template = promql.compile_template(value, allowed=_allowed(kind))
        except promql.PromQLError as exc:
            raise ValueError(str(exc)) from None
        if kind == "Pods":
            _check_pods_grouping(template)
        return value

    @field_validator("cache_ttl")
    @classmethod
    def _ttl_within_age(cls, value: float | None, info: ValidationInfo) -> float | None:
        max_age = info.data.get("max_age")
        if value is not None and max_age is not None and value > max_age:
            raise ValueError(
                f"must not exceed maxAge ({max_age:g}): a cached value would outlive its freshness"
            )
        return value

    def model_post_init(self, context: object, /) -> None:
        self._template = promql.compile_template(self.query, allowed=_allowed(self.type))

    @property
    def template(self) -> promql.Template:
        """The compiled query template (checked when the declaration was validated)."""
        return self._template


def _allowed(kind: str | None) -> tuple[str, ...]:
    """The placeholders a query of ``kind`` may use (all of them when unknown)."""
    if kind in (None, "Object"):
        return promql.PLACEHOLDERS
    return tuple(p for p in promql.PLACEHOLDERS if p not in promql.OBJECT_PLACEHOLDERS)


def _check_pods_grouping(template: promql.Template) -> None:
    """A Pods query's series must be told apart by pod (and by namespace when needed).

    A plain selector (``namespace_pod:rps:rate1m{...}``, a recording rule) is trusted to
    carry those labels; any other expression must say so in a ``by`` clause.
    """
    if template.is_plain_selector():
        return
    grouped = template.grouped_by()
    if "pod" not in grouped:
        raise ValueError(
            "a Pods query must aggregate by the pod label, e.g. sum by (namespace, pod) (...),"
            " or be a plain selector"
        )
    if promql.NAMESPACE not in template.placeholders and "namespace" not in grouped:
        raise ValueError(
            'a Pods query without "{namespace}" must aggregate by namespace too, '
            "e.g. sum by (namespace, pod) (...)"
        )


class DeclarationsSpec(Wire):
    metrics: list[MetricDeclaration]


class MetricDeclarations(Wire):
    """A ``podscale.dev/v1alpha1`` MetricDeclarations document."""

    api_version: str
    kind: str
    metadata: DeclarationsMeta
    spec: DeclarationsSpec

    @field_validator("api_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value != API_VERSION:
            raise ValueError(f"must be {API_VERSION} (got {show(value)})")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value != KIND:
            raise ValueError(f"must be {KIND} (got {show(value)})")
        return value


@dataclass(slots=True)
class LoadedDeclarations:
    """Every valid declaration by metric name, and the problems found."""

    metrics: dict[str, MetricDeclaration] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def load_declarations(paths: Iterable[str]) -> LoadedDeclarations:
    """Read the MetricDeclarations documents in ``paths`` (files, or folders of *.yaml).

    A metric name declared twice (in one document or across files) is an error at the
    second place; the first declaration stays. A document with any error contributes
    no metric, so a half-valid document cannot half-apply.
    """
    result = LoadedDeclarations()
    first: dict[str, str] = {}
    for file in _files(paths, result.errors):
        result.files.append(file)
        for doc in _documents(file, result.errors):
            declared = _validate(doc, file=file, errors=result.errors)
            for index, declaration in enumerate(declared):
                path = ("spec", "metrics", index, "name")
                line = doc.line_of(path)
                if declaration.name in first:
                    message = f'metric "{declaration.name}" is already declared at '
                    result.errors.append(
                        Issue(
                            "error",
                            file,
                            line,
                            format_path(path),
                            message + first[declaration.name],
                        )
                    )
                    continue
                first[declaration.name] = f"{file}:{line}"
                result.metrics[declaration.name] = declaration
    return result


def _validate(doc: source.Document, *, file: str, errors: list[Issue]) -> list[MetricDeclaration]:
    if doc.problems:
        errors += [Issue("error", file, p.line, "", p.message) for p in doc.problems]
        return []
    try:
        document = MetricDeclarations.model_validate(doc.data)
    except ValidationError as exc:
        for finding in pydantic_findings(exc, model=MetricDeclarations):
            line = doc.line_of(finding.path)
            errors.append(Issue("error", file, line, format_path(finding.path), finding.message))
        return []
    return document.spec.metrics


def _documents(file: str, errors: list[Issue]) -> list[source.Document]:
    try:
        raw = source.read_bounded(file)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        errors.append(Issue("error", file, None, "", f"cannot read: {reason}"))
        return []
    text = source.decode(raw)
    if isinstance(text, source.Problem):
        errors.append(Issue("error", file, text.line, "", text.message))
        return []
    documents = []
    for item in source.parse(text):
        if isinstance(item, source.Problem):
            errors.append(Issue("error", file, item.line, "", item.message))
        else:
            documents.append(item)
    if not documents and not any(e.file == file for e in errors):
        errors.append(Issue("error", file, None, "", "no documents (the file is empty)"))
    return documents


def _files(paths: Iterable[str], errors: list[Issue]) -> list[str]:
    files: list[str] = []
    for given in paths:
        if os.path.isdir(given):
            found = sorted(
                os.path.join(given, name)
                for name in os.listdir(given)
                if name.endswith((".yaml", ".yml")) and not name.startswith(".")
            )
            if not found:
                errors.append(Issue("error", given, None, "", "no YAML files (*.yaml, *.yml)"))
            odd = source.irregular(found)
            errors += [Issue("error", f, None, "", "not a regular file: skipped") for f in odd]
            files += [f for f in found if f not in odd]
        elif os.path.exists(given):
            files.append(given)
        else:
            errors.append(Issue("error", given, None, "", "no such file or directory"))
    return files
