"""Turn pydantic's ValidationError into one ConfigError line: file, field path, value, what is allowed."""

import typing

from pydantic import BaseModel, ValidationError

from simulator.config.yamlio import source_of
from simulator.errors import MISSING, ConfigError


def validate(model: type[BaseModel], data: dict, default_source: str, provenance: dict | None = None):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise to_config_error(exc, model, data, default_source, provenance or {}) from None


def to_config_error(exc: ValidationError, model, data, default_source, provenance) -> ConfigError:
    error = _most_specific(exc.errors())
    loc = _data_path(data, [str(p) for p in error["loc"] if p != "[key]"])
    blamed = loc  # whoever last wrote anything the check read
    if (error.get("ctx") or {}).get("field"):  # a check across fields names the one it blames
        loc = loc + (error["ctx"]["field"],)
    field = ".".join(loc)
    value = _lookup(data, loc)
    kind = error["type"]
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        field, value = field + ".type", _lookup(data, loc + ("type",))
        allowed = "must be one of " + ", ".join(repr(t) for t in _union_tags(model, loc, data))
    elif kind == "extra_forbidden":
        allowed = "unknown field; allowed here: " + ", ".join(_fields_at(model, loc[:-1], data))
    elif kind == "missing":
        allowed = "required field is missing"
        value = MISSING
    elif "[key]" in [str(p) for p in error["loc"]]:
        value = loc[-1]
        allowed = "unknown key: " + error["msg"][0].lower() + error["msg"][1:]
    else:
        allowed = _allowed_text(error)
    return ConfigError(source_of(provenance, blamed, default_source), field, value, allowed)


def _data_path(data, loc: list[str]) -> tuple:
    """The error's location as a path in the data: drops the tag pydantic inserts for tagged unions
    (`ops.1.vector.kind` → `ops.1.kind`)."""
    path, node = [], data
    for part in loc:
        if isinstance(node, dict) and part not in node and part in (node.get("type"), node.get("kind")):
            continue
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            node = None
    return tuple(path)


def _most_specific(errors: list[dict]) -> dict:
    # For `X | None` pydantic reports one error per branch; the non-null branch is the useful one.
    useful = [e for e in errors if e["type"] != "none_required"]
    return (useful or errors)[0]


def _allowed_text(error: dict) -> str:
    kind, ctx, msg = error["type"], error.get("ctx") or {}, error["msg"]
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx['le']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "literal_error":
        return "must be one of " + ctx.get("expected", "")
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind in ("dict_type", "model_type"):
        return "must be a group of fields (a mapping)"
    if kind in ("string_type",):
        return "must be text"
    if kind in ("list_type",):
        return "must be a list"
    return msg[0].lower() + msg[1:] if msg else kind


def _lookup(data, loc):
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def _annotation_at(model, loc, data):
    """The schema at `loc` (a model where the data is a mapping), following list items and tagged unions."""
    current, node = model, data
    for part in loc:
        node = _lookup(node, (part,))
        if isinstance(current, type) and issubclass(current, BaseModel):
            current = current.model_fields[part].annotation if part in current.model_fields else None
        elif part.isdigit():
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[0] if args else None
        if current is not None and isinstance(node, dict):
            current = _model_in(current, node) or current
    return current


def _fields_at(model, loc, data) -> list[str]:
    current = _annotation_at(model, loc, data)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _union_tags(model, loc, data) -> list[str]:
    """The `type` values allowed by the tagged union at `loc`."""
    current = _annotation_at(model, loc[:-1], data)
    annotation = current.model_fields[loc[-1]].annotation if isinstance(current, type) and \
        issubclass(current, BaseModel) and loc[-1] in current.model_fields else current
    tags: list[str] = []

    def collect(a):
        if isinstance(a, type) and issubclass(a, BaseModel) and "type" in a.model_fields:
            tags.extend(typing.get_args(a.model_fields["type"].annotation))
        else:
            for arg in typing.get_args(a):
                collect(arg)

    collect(annotation)
    return tags


def _model_in(annotation, node=None):
    """The BaseModel inside an annotation such as `X | None` or `list[X]`; in a tagged union, the
    member whose `type` matches the data."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = [m for m in (_model_in(arg, node) for arg in typing.get_args(annotation)) if m is not None]
    if len(found) > 1 and isinstance(node, dict):
        for m in found:
            tag = m.model_fields.get("type")
            if tag is not None and node.get("type") in typing.get_args(tag.annotation):
                return m
    return found[0] if found else None


def validate_node(model: type[BaseModel], nodes: dict, node: str, path, fields: str):
    """One technology node of a nodes file (configs/energy/, configs/area/) as `model`; an error names the
    field as it sits in the file, under its node (`fields`: what a node holds, for the message)."""
    data = nodes.get(node)
    if not isinstance(data, dict):
        raise ConfigError(str(path), node, data, f"each node must be a group of fields ({fields})")
    try:
        return validate(model, data, str(path))
    except ConfigError as e:
        raise ConfigError(e.source, f"{node}.{e.field}", e.value, e.allowed) from None
