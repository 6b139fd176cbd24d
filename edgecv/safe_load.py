"""Read back the whole modules a run wrote (``NN-stage/model.pt``) without letting the file run code.

Pruning changes shapes, so a stage saves the whole module with ``torch.save(module)``. It is read back with
``torch.load(weights_only=True)``, which builds no object whose class is not allow-listed and calls nothing else:
the allow-list holds only the ``nn.Module`` classes the file names that are defined in ``torch.nn``,
``torchvision.models``, ``torchvision.ops`` or ``edgecv``, or that come from the package of the recipe's own
factory (``model.arch: package.module:factory``, registered by :func:`trust_module_classes` when it builds the
model), plus ``functools.partial`` (torchvision keeps ``partial(nn.LayerNorm, ...)`` as an attribute). Any
other global (``os.system`` in a tampered file) is refused before unpickling. The file's sha256, recorded when
the run wrote it, is checked first.

Example::

    from edgecv.safe_load import load_run_module
    module = load_run_module(Path("runs/q/1/02-prune/model.pt"), expected_sha256=artifact.sha256)
"""

from __future__ import annotations

import functools
import importlib
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgecv.artifacts import sha256_file
from edgecv.errors import ModelError

TRUSTED_PACKAGES = ("torch.nn", "torchvision.models", "torchvision.ops", "edgecv")
"""Packages whose nn.Module classes a run file may name (they are imported if needed)."""

EXTRA_GLOBALS: dict[str, Any] = {"functools.partial": functools.partial}
"""Non-module globals torch.nn and torchvision models keep as attributes."""

FIX = "start a new run (without --resume)"

_user_packages: set[str] = set()
_user_classes: dict[str, type[nn.Module]] = {}


def trust_module_classes(module_name: str, model: nn.Module | None = None) -> None:
    """Allow the nn.Module classes of ``module_name``'s top package, and every class inside ``model``, in run files.

    Called with the module the recipe's ``model.arch`` names, once its factory has built a model.
    """
    _user_packages.add(module_name.split(".")[0])
    # nn.Module.modules itself: some users' models hide it (ESPNet sets ``self.modules = []``)
    for sub in nn.Module.modules(model) if model is not None else ():
        cls = type(sub)
        _user_classes[f"{cls.__module__}.{cls.__qualname__}"] = cls


def _within(module_name: str, packages: Iterable[str]) -> bool:
    return any(module_name == p or module_name.startswith(p + ".") for p in packages)


def allowed_global(name: str) -> Any | None:
    """The object a run file may reference as ``name`` (``module.qualname``), or None when it is not allowed."""
    if name in EXTRA_GLOBALS:
        return EXTRA_GLOBALS[name]
    if name in _user_classes:
        return _user_classes[name]
    module_name, _, qualname = name.rpartition(".")
    trusted = _within(module_name, TRUSTED_PACKAGES)
    if not (trusted or _within(module_name, _user_packages)):
        return None
    module = sys.modules.get(module_name)
    if module is None and trusted:
        try:
            module = importlib.import_module(module_name)
        except Exception:  # an unknown name is simply not allowed
            return None
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module_name:
        return obj
    return None


def _refused(path: Path, why: str) -> ModelError:
    return ModelError(f"run file {path} was refused: {why}; it may have been tampered with: {FIX}")


def check_run_module(path: Path) -> None:
    """Raise a ModelError if :func:`load_run_module` would refuse the module just saved at ``path``."""
    refused = [n for n in sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path)) if not allowed_global(n)]
    if refused:
        raise ModelError(
            f"{path}: the model holds {', '.join(refused[:3])}, which edgecv cannot load back without running "
            "code (only nn.Module classes of torch.nn, torchvision, edgecv and model.arch's package are allowed; "
            "hooks and lambdas are not); remove them from the model or define them in model.arch's package"
        )


def load_run_module(path: Path | str, expected_sha256: str | None = None) -> nn.Module:
    """Load a whole module the run saved, on the CPU, checking its sha256 first; never runs code from the file.

    Raises ModelError (one line) when the file is missing, changed since the run wrote it, names anything but
    allow-listed module classes, or does not hold an nn.Module.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"run file {path} is missing; {FIX}")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise ModelError(
                f"run file {path} was changed after the run wrote it (sha256 {actual[:16]}..., recorded "
                f"{expected_sha256[:16]}...); {FIX}"
            )
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # not a zip file torch.save wrote
        raise _refused(path, f"it is not in the zip format the run writes ({_first_line(exc)})") from exc
    allowed = {}
    for name in sorted(names):
        obj = allowed_global(name)
        if obj is None:
            raise _refused(path, f"it refers to {name}, which is not a torch module class edgecv loads")
        allowed[name] = obj
    try:
        with torch.serialization.safe_globals(list(allowed.values())):
            module = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError, AttributeError, TypeError) as exc:
        raise _refused(path, f"it cannot be read safely ({load_error_reason(exc)})") from exc
    if not isinstance(module, nn.Module):
        raise _refused(path, f"it holds a {type(module).__name__}, not a torch module")
    return module


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_error_reason(exc: BaseException, limit: int = 160) -> str:
    """The informative line of a ``torch.load`` error (torch's weights-only errors open with boilerplate)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    telling = [line for line in lines if line.startswith(("WeightsUnpickler error", "Unsupported", "Trying to load"))]
    reason = telling[-1] if telling else lines[0] if lines else type(exc).__name__
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."
