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
    loc = tuple(str(p) for p in error["loc"] if p != "[key]")
    field = ".".join(loc)
    value = _lookup(data, loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = "unknown field; allowed here: " + ", ".join(_fields_at(model, loc[:-1]))
    elif kind == "missing":
        allowed = "required field is missing"
        value = MISSING
    elif "[key]" in [str(p) for p in error["loc"]]:
        value = loc[-1]
        allowed = "unknown key: " + error["msg"][0].lower() + error["msg"][1:]
    else:
        allowed = _allowed_text(error)
    return ConfigError(source_of(provenance, loc, default_source), field, value, allowed)


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
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "literal_error":
        return "must be one of " + ctx.get("expected", "")
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind == "dict_type":
        return "must be a group of fields (a mapping)"
    if kind == "model_type":
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


def _fields_at(model, loc) -> list[str]:
    current = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = _model_in(current.model_fields[part].annotation)
        else:
            current = _model_in(current) if current is not None else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation):
    """The BaseModel inside an annotation such as `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
