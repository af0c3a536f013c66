"""Load YAML strictly: a mapping key given twice is an error, not a silent win.

PyYAML's ``safe_load`` keeps the last of two equal keys, so a field declared
twice (or a ``type:`` repeated under one field) silently drops the first.
:class:`StrictLoader` is a ``SafeLoader`` that refuses a repeated key,
naming its line and the line of the first occurrence.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.nodes import MappingNode


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key; ``problem_mark`` points at the repetition."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises :class:`DuplicateKeyError` on a repeated key."""

    def construct_mapping(
        self, node: MappingNode, deep: bool = False
    ) -> dict[Hashable, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise DuplicateKeyError(
                        None,
                        None,
                        f"duplicate key {key!r} (first given at line {first + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """Parse one YAML document with :class:`StrictLoader`."""
    return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass
