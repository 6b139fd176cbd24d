"""A user's own network, named by import path: ``model.arch: "package.module:factory"``.

The factory (a function or a class; ``module:Outer.attr`` reaches nested attributes) is called with
``num_classes=...`` when its signature accepts it, plus ``model.kwargs``, and must return an ``nn.Module``.
The module is imported from the recipe's folder first (``my_nets.py`` or ``my_nets/`` beside the recipe), then
from sys.path (PYTHONPATH, installed packages); the folder is on sys.path only during the import.
This runs the user's code by design, but only a factory that can build a model: before anything is called,
builtins and other non-Python callables (``os:system``), anything from Python's standard library, classes that
are not ``nn.Module`` subclasses and functions annotated to return something else are refused.

Example::

    from edgecv.models.factory import build_from_import_path
    model = build_from_import_path("my_nets.cnn:make_net", num_classes=5, kwargs={"width": 32})
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import inspect
import sys
import types
import typing
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from edgecv.errors import ModelError

FIELD = "model.arch"


def is_import_path(arch: str) -> bool:
    """Whether ``arch`` names a factory by import path (``package.module:factory``) rather than a zoo name."""
    return ":" in arch


@contextlib.contextmanager
def importable_from(folders: Sequence[Path]) -> Iterator[None]:
    """``folders`` at the front of ``sys.path`` inside the block only (the recipe's folder, for its own modules)."""
    added = [str(f) for f in folders if str(f) not in sys.path]
    sys.path[:0] = added
    importlib.invalidate_caches()  # a module written after start-up must be found
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _searched(folders: Sequence[Path]) -> str:
    return ", ".join(str(f) for f in folders) + " and sys.path (PYTHONPATH)" if folders else "sys.path (PYTHONPATH)"


def resolve(spec: str, search_paths: Sequence[Path] = ()) -> Callable[..., Any]:
    """Import ``package.module:attr`` (``search_paths`` first, then sys.path) and return the attribute;
    ModelError (``model.arch``) if impossible."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path or ":" in attr_path:
        raise ModelError(f"model.arch {spec!r} is not an import path of the form 'package.module:factory'", field=FIELD)
    try:
        with importable_from(search_paths):
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            top = module_name.split(".")[0]
            raise ModelError(
                f"model.arch {spec!r}: module {module_name!r} cannot be imported ({exc}); searched "
                f"{_searched(search_paths)}; put {top}.py or {top}/ beside the recipe, install it, or add its folder "
                "to PYTHONPATH",
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


def check_factory(spec: str, factory: Any) -> None:
    """Refuse, before calling it, a factory that cannot be a function or class building an nn.Module."""
    target = factory
    while isinstance(target, functools.partial):
        target = target.func
    module = getattr(target, "__module__", None) or ""
    if module.split(".")[0] in sys.stdlib_module_names:
        raise ModelError(
            f"model.arch {spec!r} names {_kind(target)} of Python's standard library ({_name(target)}), not a "
            "factory that builds a torch.nn.Module; name your own function or class",
            field=FIELD,
        )
    if inspect.isclass(target):
        if not issubclass(target, nn.Module):
            raise ModelError(
                f"model.arch {spec!r} is the class {_name(target)}, which is not a torch.nn.Module subclass",
                field=FIELD,
            )
        return
    function = target.__func__ if inspect.ismethod(target) else target
    if not inspect.isfunction(function):
        call = inspect.getattr_static(type(target), "__call__", None)
        if not inspect.isfunction(call):
            raise ModelError(
                f"model.arch {spec!r} is a {type(target).__name__} ({_name(target)}), not a Python function or "
                "class that builds a torch.nn.Module",
                field=FIELD,
            )
        function = call
    returns = _return_annotation(function)
    if returns is not None and not _may_be_module(returns):
        raise ModelError(
            f"model.arch {spec!r} is annotated to return {_type_name(returns)}, not a torch.nn.Module; "
            "name a factory that returns the model",
            field=FIELD,
        )


def _kind(obj: Any) -> str:
    if inspect.isbuiltin(obj):
        return "a built-in function"
    return "a class" if inspect.isclass(obj) else "a function" if inspect.isroutine(obj) else "an object"


def _name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None) or '?'}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _return_annotation(function: types.FunctionType) -> Any | None:
    """The resolved return annotation, or None when there is none or it cannot be resolved."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolvable forward references: the result is checked after the call
        return None
    return hints.get("return")


def _may_be_module(annotation: Any) -> bool:
    """Whether a value of type ``annotation`` can be an nn.Module (unions count when any member can)."""
    if annotation is Any or isinstance(annotation, typing.TypeVar):
        return True
    if annotation is type(None) or annotation is None:
        return False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_may_be_module(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _may_be_module(typing.get_args(annotation)[0])
    if origin is not None:
        return isinstance(origin, type) and issubclass(origin, nn.Module)
    if isinstance(annotation, type):
        return issubclass(annotation, nn.Module) or issubclass(nn.Module, annotation)
    return True  # a string or another construct edgecv does not interpret: checked after the call


def _type_name(annotation: Any) -> str:
    return annotation.__qualname__ if isinstance(annotation, type) else str(annotation)


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume it takes keywords
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def build_from_import_path(
    spec: str, num_classes: int, kwargs: dict[str, Any] | None = None, search_paths: Sequence[Path] = ()
) -> nn.Module:
    """Build the model the factory at ``spec`` returns, passing ``num_classes`` when it accepts it.

    ``search_paths`` (the recipe's folder) are searched before sys.path while the module is imported.
    """
    factory = resolve(spec, search_paths)
    check_factory(spec, factory)
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
    from edgecv.safe_load import trust_module_classes

    trust_module_classes(spec.partition(":")[0], model)  # the run's own model.pt files may name these classes
    return model
