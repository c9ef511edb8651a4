"""JSON or YAML text to plain data, bounded against hostile input.

What ``autoscaler decide`` reads may come from anyone, so every reader here:

- refuses nesting deeper than :data:`MAX_DEPTH` (a snapshot nests about ten levels; two
  kilobytes of ``[`` would otherwise exhaust Python's recursion);
- refuses duplicate keys (a silent last-one-wins hides typos, as in policy files);
- bounds YAML aliases: a few hundred bytes can stand for billions of values ("billion
  laughs"), so the values a reader would visit are counted and refused past
  :data:`MAX_NODES`;
- names where it stopped: the field path, line and column.

YAML is read by ``autoscaler.textdata.yaml_text``, imported only for text that is not
JSON (PyYAML costs a batch of JSON 10 ms to import).
"""

from __future__ import annotations

from autoscaler.textdata.errors import MAX_DEPTH, MAX_NODES, DataError
from autoscaler.textdata.json_text import NotJson, deeper_than, load_json

__all__ = ["MAX_DEPTH", "MAX_NODES", "DataError", "NotJson", "deeper_than", "load_json"]
