"""OpenAI's strict structured outputs, as pure functions over any JSON Schema dict.

A strict schema is enforced by the server, token by token, but only a subset of JSON Schema
is allowed: every object lists all its properties in `required` and sets
`additionalProperties: false`. A property the original schema left optional is made
nullable instead (null stands for "absent"), and `absent_nulls_dropped` turns those nulls
back into absent keys in the answer, so the original model's defaults apply again.

Both walk the whole schema (properties, items, anyOf/oneOf/allOf, $defs), so they work for
whatever schema is sent, not only `Extraction`'s.
"""

from __future__ import annotations

import copy
from typing import Any

# Keywords strict mode rejects or that mean nothing once every property is required.
_DROPPED = frozenset({"default"})
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "not", "contains", "additionalItems")


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` that OpenAI accepts with `strict: true`; the input is not changed."""
    return _strict(copy.deepcopy(schema))


def _strict(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    for key in _DROPPED & node.keys():
        del node[key]
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            node[key] = {name: _strict(sub) for name, sub in node[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            node[key] = [_strict(sub) for sub in node[key]]
    for key in _SCHEMA_ONE:
        if isinstance(node.get(key), dict):
            node[key] = _strict(node[key])
    if _is_object(node):
        properties: dict[str, Any] = node.setdefault("properties", {})
        required = set(node.get("required", ()))
        for name, sub in properties.items():
            if name not in required:
                properties[name] = nullable(sub)
        node["required"] = list(properties)
        node["additionalProperties"] = False
    return node


def _is_object(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def nullable(node: Any) -> Any:
    """`node`, also accepting null (unchanged when it already does)."""
    if not isinstance(node, dict) or _accepts_null(node):
        return node
    kind = node.get("type")
    if isinstance(kind, str) and "$ref" not in node and "enum" not in node:
        return {**node, "type": [kind, "null"]}
    if isinstance(kind, list):
        return {**node, "type": [*kind, "null"]}
    if isinstance(node.get("anyOf"), list):
        return {**node, "anyOf": [*node["anyOf"], {"type": "null"}]}
    # A $ref, an enum, or a bare schema: wrap it, keeping the description for the model.
    wrapped: dict[str, Any] = {"anyOf": [node, {"type": "null"}]}
    if "description" in node:
        wrapped["description"] = node["description"]
    return wrapped


def _accepts_null(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if isinstance(node.get("enum"), list) and None in node["enum"]:
        return True
    return any(isinstance(sub, dict) and _accepts_null(sub) for sub in node.get("anyOf", ()) or ())


def absent_nulls_dropped(value: Any, schema: dict[str, Any]) -> Any:
    """The answer to a strict schema made from `schema`, with each null that stands for an
    absent optional property (one `schema` itself does not allow to be null) removed."""
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _drop(value, schema, defs, 0)


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        return defs.get(ref.rsplit("/", 1)[-1], node)
    return node


def _drop(value: Any, node: Any, defs: dict[str, Any], depth: int) -> Any:
    node = _resolve(node, defs)
    if depth > 64 or not isinstance(node, dict):
        return value
    if isinstance(value, dict) and isinstance(node.get("properties"), dict):
        properties = node["properties"]
        required = set(node.get("required", ()))
        out = {}
        for key, item in value.items():
            sub = properties.get(key)
            absent = item is None and sub is not None and key not in required
            if absent and not _accepts_null(_resolve(sub, defs)):
                continue  # the stand-in for "absent": let the default apply
            out[key] = _drop(item, sub, defs, depth + 1) if sub is not None else item
        return out
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_drop(item, node["items"], defs, depth + 1) for item in value]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, ()) or ():
            resolved = _resolve(sub, defs)
            if isinstance(resolved, dict) and (
                (isinstance(value, dict) and "properties" in resolved)
                or (isinstance(value, list) and "items" in resolved)
            ):
                return _drop(value, resolved, defs, depth + 1)
    return value
