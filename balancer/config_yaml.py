"""The config file's YAML, read strictly and quietly: what plain ``yaml.safe_load`` lets through is an error here.

* A key written twice in one mapping (two providers both called ``ds-main``, a route pasted twice) is refused
  with both lines: YAML would silently keep the last one. Merge keys (``<<: *defaults``) may still be
  overridden, as YAML intends.
* Anchors and aliases are allowed, but not an alias inside itself nor one that expands the document past
  ``MAX_NODES`` (the "billion laughs": a few lines that would take hours and all memory to walk).
* Bytes that are not UTF-8 are named by line and column.
* No message quotes the file's text: PyYAML's errors show the offending line, which may hold an API key, so
  only the line, the column and the problem are kept.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 1_000_000  # nodes after every alias is expanded; a real config has a few thousand
_MERGE = "tag:yaml.org,2002:merge"


class YamlError(Exception):
    """The text is not a usable YAML document; the message names the line, never quotes it."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            first = seen.get((key_node.tag, key_node.value))
            if first is not None:
                raise YamlError(
                    f"line {line}: duplicate key {key_node.value!r} (first on line {first}); YAML would keep "
                    "only the last one: remove or rename one of them"
                )
            seen[key_node.tag, key_node.value] = line
        return super().construct_mapping(node, deep)


def load(data: bytes) -> Any:
    """The document in ``data`` (YamlError if it is not UTF-8, not YAML, or not acceptable, see above)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line, column = before.count(b"\n") + 1, e.start - (before.rfind(b"\n") + 1) + 1
        raise YamlError(
            f"line {line}, column {column}: byte 0x{data[e.start]:02x} is not UTF-8; save the file as UTF-8"
        ) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        raise YamlError(_quiet(e)) from None
    except yaml.YAMLError as e:  # the reader's errors (a control character) name a position and a code only
        raise YamlError(str(e)) from None
    except RecursionError:
        raise YamlError("nested too deeply") from None
    finally:
        loader.dispose()


def _quiet(e: yaml.MarkedYAMLError) -> str:
    """PyYAML's message without the quoted snippet of the file."""
    where = e.problem_mark or e.context_mark
    at = f"line {where.line + 1}, column {where.column + 1}: " if where else ""
    context = ""
    if e.context and e.context_mark and e.context_mark is not where:
        context = f" ({e.context} at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
    return f"{at}{e.problem or e.context or 'not valid YAML'}{context}"


def _check_size(root: yaml.Node) -> None:
    """YamlError when the document, its aliases expanded, holds more than MAX_NODES nodes or an alias inside
    itself. Each node is sized once (aliases share their node), so this costs the file's size, not the expansion's."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            line = node.start_mark.line + 1
            raise YamlError(f"line {line}: an alias refers to the node that contains it (an endless structure)")
        open_nodes.add(id(node))
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        if total > MAX_NODES:
            raise YamlError(
                f"line {node.start_mark.line + 1}: its aliases expand to more than {MAX_NODES:,} values; "
                "a config this large is a mistake (or an alias bomb)"
            )
        return total

    size(root)
