"""Turn a pydantic ValidationError into one line that names the file, the key path and the fix."""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model class nested in an annotation (lists, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _union_member(annotation: Any, tag: str) -> type[BaseModel] | None:
    """The member of a discriminated union whose ``type`` literal is ``tag``."""
    for member in _models_in(annotation):
        type_field = member.model_fields.get("type")
        if type_field is not None and tag in typing.get_args(type_field.annotation):
            return member
    return None


def _walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, type[BaseModel] | None]:
    """Follow ``loc`` through the models: the dotted key a user wrote, and the model owning the last key."""
    dotted, model, annotation = "", root, None
    for part in loc:
        if isinstance(part, int):
            dotted += f"[{part}]"
            continue
        field = _field_by_key(model, str(part)) if model else None
        if field is None and annotation is not None and (member := _union_member(annotation, str(part))):
            model = member  # a discriminated-union tag: not a key the user wrote
            continue
        dotted += ("." if dotted else "") + str(part)
        annotation = field.annotation if field else None
        model = _first_model(annotation) if field else None
    return dotted, model


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items() if not field.exclude]


def describe_validation_error(exc: ValidationError, source: str, root: type[BaseModel]) -> str:
    """One line for the first error: ``file: key 'a.b': what is wrong; the fix``."""
    # An unknown key usually explains a "missing" one beside it (a typo), so report it first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(err["loc"])
    key, _ = _walk(root, loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        _, owner = _walk(root, loc[:-1])
        options = _keys(owner) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), options, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys here: {', '.join(options)}"
        return f"{source}: unknown key '{key}': {hint}"
    if kind == "missing":
        return f"{source}: key '{key}' is required; add it (see `edgecv schema recipe`)"
    if kind == "union_tag_invalid":
        expected = err.get("ctx", {}).get("expected_tags", "")
        return f"{source}: key '{key}': unknown stage type {err['input'].get('type')!r}; use one of {expected}"
    if kind == "union_tag_not_found":
        return f"{source}: key '{key}': each stage needs a 'type' (e.g. type: finetune)"
    if kind == "value_error":  # a whole-recipe check (no key) names its keys in the message
        where = f"key '{key}': " if key else ""
        return f"{source}: {where}{err['msg'].removeprefix('Value error, ')}"
    got = err.get("input")
    got_text = f" (got {got!r})" if not isinstance(got, dict | list) else ""
    return f"{source}: key '{key}': {err['msg']}{got_text}; fix this value (see `edgecv schema recipe`)"
