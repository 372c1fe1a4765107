"""YAML that remembers where each value came from, so spec errors can name file:line.

PyYAML's safe loader builds plain dicts and lists; we build subclasses that carry the line
of every key (mappings) and item (sequences). Everything else is PyYAML's safe loader
(no arbitrary object construction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tracelens.errors import SpecError


class LineDict(dict[str, Any]):
    """A mapping with ``line`` (where it starts) and ``lines`` (key -> line)."""

    line: int = 0
    lines: dict[str, int]


class LineList(list[Any]):
    """A sequence with ``line`` and ``lines`` (one per item)."""

    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) or key is None:
            msg = f"line {key_node.start_mark.line + 1}: mapping keys must be plain words"
            raise SpecError(msg)
        key = str(key)
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = key_node.start_mark.line + 1


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Any:
    data = LineList()
    data.line = node.start_mark.line + 1
    data.lines = [child.start_mark.line + 1 for child in node.value]
    yield data
    data.extend(loader.construct_object(child, deep=True) for child in node.value)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_documents(text: str, source: str) -> list[Any]:
    """Every YAML document in ``text`` (empty documents dropped); SpecError with the line
    of a YAML syntax error."""
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        msg = f"{where}: invalid YAML: {exc.problem or exc.context}"
        raise SpecError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{source}: invalid YAML: {exc}"
        raise SpecError(msg) from None
    return [doc for doc in documents if doc is not None]


def read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{path}: no such file"
        raise SpecError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read: {exc}"
        raise SpecError(msg) from None
