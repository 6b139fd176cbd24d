"""A user's own network, named by import path: ``model.arch: "package.module:factory"``.

The factory (a function or a class; ``module:Outer.attr`` reaches nested attributes) is called with
``num_classes=...`` when its signature accepts it, plus ``model.kwargs``, and must return an ``nn.Module``.

Example::

    from edgecv.models.factory import build_from_import_path
    model = build_from_import_path("my_nets.cnn:make_net", num_classes=5, kwargs={"width": 32})
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import warnings
from collections.abc import Callable
from typing import Any

from torch import nn

from edgecv.errors import ModelError

FIELD = "model.arch"


def is_import_path(arch: str) -> bool:
    """Whether ``arch`` names a factory by import path (``package.module:factory``) rather than a zoo name."""
    return ":" in arch


def resolve(spec: str) -> Callable[..., Any]:
    """Import ``package.module:attr`` and return the attribute; ModelError (``model.arch``) if impossible."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path or ":" in attr_path:
        raise ModelError(f"model.arch {spec!r} is not an import path of the form 'package.module:factory'", field=FIELD)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ModelError(
                f"model.arch {spec!r}: module {module_name!r} cannot be imported ({exc}); install it or put "
                "its folder on PYTHONPATH",
                field=FIELD,
            ) from exc
        raise ModelError(
            f"model.arch {spec!r}: importing {module_name!r} failed because a module it imports is "
            f"missing ({exc}); install it",
            field=FIELD,
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"model.arch {spec!r}: importing {module_name!r} raised {type(exc).__name__}: {exc}", field=FIELD
        ) from exc
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            public = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, public, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ModelError(
                f"model.arch {spec!r}: {getattr(target, '__name__', part)!r} has no attribute {part!r}{hint}",
                field=FIELD,
            )
        target = getattr(target, part)
    if not callable(target):
        raise ModelError(
            f"model.arch {spec!r}: {attr_path} is a {type(target).__name__}, not a function or "
            "class that builds the model",
            field=FIELD,
        )
    return target


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume it takes keywords
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def build_from_import_path(spec: str, num_classes: int, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Build the model the factory at ``spec`` returns, passing ``num_classes`` when it accepts it."""
    factory = resolve(spec)
    call_kwargs = dict(kwargs or {})
    if _accepts(factory, "num_classes"):
        call_kwargs.setdefault("num_classes", num_classes)
    else:
        warnings.warn(
            f"model.arch {spec!r} takes no num_classes argument; make sure it returns {num_classes} outputs",
            stacklevel=2,
        )
    try:
        inspect.signature(factory).bind(**call_kwargs)
    except TypeError as exc:
        raise ModelError(
            f"model.arch {spec!r} cannot be called with {sorted(call_kwargs)}: {exc}; check model.kwargs",
            field="model.kwargs",
        ) from exc
    except ValueError:
        pass  # no signature to check against
    try:
        model = factory(**call_kwargs)
    except Exception as exc:
        raise ModelError(f"model.arch {spec!r}: calling it raised {type(exc).__name__}: {exc}", field=FIELD) from exc
    if not isinstance(model, nn.Module):
        raise ModelError(f"model.arch {spec!r} returned a {type(model).__name__}, not a torch.nn.Module", field=FIELD)
    return model
