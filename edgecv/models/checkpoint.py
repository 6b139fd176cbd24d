"""Load a user's checkpoint into a built model, strictly, with errors that say what does not fit and the fix.

Accepted layouts: a plain state_dict; a dict holding one under ``state_dict``, ``model_state_dict`` or
``model``; keys prefixed by ``module.`` (``nn.DataParallel``/DDP) or ``_orig_mod.`` (``torch.compile``),
stripped; or a whole pickled ``nn.Module`` (its state_dict is used, so the registered architecture is still
what runs).

Safety: the file is first read with ``torch.load(weights_only=True)``, which cannot run code. Only when that
refuses the file (a pickled module, or extra Python objects next to the weights such as numpy scalars or
an argparse Namespace) is it read again with ``weights_only=False``, which unpickles arbitrary objects and can
run code from the file: load only checkpoints you trust.

Example::

    from edgecv.models.checkpoint import load_checkpoint
    load_checkpoint(model, Path("runs/best.pt"), arch="resnet20")
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgecv.errors import ModelError

FIELD = "model.checkpoint"
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
PREFIXES = ("module.", "_orig_mod.")
SHOWN = 3
FIX = "check model.arch and model.num_classes against the network the checkpoint was saved from"


def read_checkpoint(path: Path) -> Any:
    """Read a checkpoint on the CPU: safe loading first, full unpickling only if that refuses the file."""
    if not path.exists():
        where = "" if path.is_absolute() else f" (looked at {path.absolute()})"
        raise ModelError(
            f"checkpoint {path} does not exist{where}; check model.checkpoint (relative paths resolve "
            "against the recipe's folder)",
            field=FIELD,
        )
    if not path.is_file():
        raise ModelError(f"checkpoint {path} is not a file; model.checkpoint must name a .pt/.pth file", field=FIELD)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # not only tensors (a pickled module, numpy scalars...) or not a torch file: decided below
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as exc:
        raise ModelError(
            f"checkpoint {path} pickles objects whose class cannot be imported ({exc}); make the module that "
            "defines them importable, or re-save the weights only: torch.save(model.state_dict(), path)",
            field=FIELD,
        ) from exc
    except Exception as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> ModelError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(
        f"checkpoint {path} is not a readable PyTorch file (truncated, corrupt or another format: {reason}); "
        "save it with torch.save(model.state_dict(), path) or copy it again",
        field=FIELD,
    )


def extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict inside a loaded checkpoint, with DataParallel/compile prefixes stripped."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    elif isinstance(obj, Mapping) and not _is_state_dict(obj):
        inner = next((obj[k] for k in WRAPPER_KEYS if k in obj), None)
        if isinstance(inner, nn.Module):
            inner = inner.state_dict()
        if not (isinstance(inner, Mapping) and _is_state_dict(inner)):
            keys = ", ".join(repr(k) for k in list(obj)[:8])
            raise ModelError(
                f"checkpoint {path} holds a dict without a state_dict (top-level keys: {keys}); expected a "
                f"state_dict or a dict with one under {', '.join(map(repr, WRAPPER_KEYS))}",
                field=FIELD,
            )
        obj = inner
    elif not isinstance(obj, Mapping):
        raise ModelError(
            f"checkpoint {path} holds a {type(obj).__name__}, not a state_dict or an nn.Module; "
            "save it with torch.save(model.state_dict(), path)",
            field=FIELD,
        )
    return _strip_prefixes(obj)


def _is_state_dict(obj: Mapping[Any, Any]) -> bool:
    return bool(obj) and all(isinstance(k, str) for k in obj) and all(torch.is_tensor(v) for v in obj.values())


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip prefixes every key shares, keeping the version metadata some modules need to load."""
    metadata = dict(getattr(state, "_metadata", None) or {})
    out = dict(state)
    for prefix in PREFIXES:
        if out and all(k.startswith(prefix) for k in out):
            out = {k[len(prefix) :]: v for k, v in out.items()}
            bare = prefix.rstrip(".")
            metadata = {
                (k[len(prefix) :] if k.startswith(prefix) else "" if k == bare else k): v for k, v in metadata.items()
            }
    result: Any = _StateDict(out)
    if metadata:
        result._metadata = metadata
    return result


class _StateDict(dict[str, torch.Tensor]):
    """A dict that can carry ``_metadata`` like the OrderedDict ``state_dict()`` returns."""

    _metadata: dict[str, Any]


def check_fits(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path, arch: str | None = None) -> None:
    """Raise a ModelError listing missing, unexpected and shape-mismatched keys, if there are any."""
    own = model.state_dict()
    # Checkpoints older than PyTorch 0.4.1 lack BatchNorm's num_batches_tracked; BatchNorm fills it in itself.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = [
        _listed(missing, "missing key", "missing keys"),
        _listed(unexpected, "unexpected key", "unexpected keys"),
        _listed(mismatched, "shape mismatch", "shape mismatches", sep="; "),
    ]
    what = arch or "the model"
    raise ModelError(
        f"checkpoint {path} does not fit {what}: {'; '.join(p for p in parts if p)}. Fix: {FIX}",
        field=FIELD,
    )


def _listed(items: list[str], one: str, many: str, sep: str = ", ") -> str:
    if not items:
        return ""
    more = f"{sep}and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"{len(items)} {one if len(items) == 1 else many} ({sep.join(items[:SHOWN])}{more})"


def load_checkpoint(model: nn.Module, path: Path | str, *, arch: str | None = None) -> nn.Module:
    """Load the checkpoint at ``path`` into ``model`` strictly and return the model.

    ``arch`` only names the architecture in error messages. Raises ModelError (field ``model.checkpoint``)
    when the file is missing, unreadable, or does not fit the model.
    """
    path = Path(path)
    state = extract_state_dict(read_checkpoint(path), path)
    check_fits(model, state, path, arch)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelError(
            f"checkpoint {path} cannot be loaded into {arch or 'the model'}: {exc}. Fix: {FIX}", field=FIELD
        ) from exc
    return model
