"""Load a user's checkpoint into a built model, strictly, with errors that say what does not fit and the fix.

Accepted layouts: a plain state_dict (``torch.save`` or ``.safetensors``); a dict holding one under
``state_dict``, ``model_state_dict`` or ``model``; keys prefixed by ``module.`` (``nn.DataParallel``/DDP) or
``_orig_mod.`` (``torch.compile``), stripped. With ``model.trust_checkpoint: true`` also a whole pickled
``nn.Module`` or a TorchScript archive (its state_dict is used, so the registered architecture is still what
runs).

Safety: loading never runs code from the file. A torch file is read with ``torch.load(weights_only=True)``,
which builds only tensors and plain containers; a safetensors file holds tensors only. A file that pickles
other Python objects (a whole module, an argparse Namespace, a ``__reduce__`` payload) or is TorchScript is
refused, unless the recipe sets ``model.trust_checkpoint: true``: then it is unpickled in full
(``weights_only=False``) or read by ``torch.jit.load``, which can run code from the file. Weights that hold
NaN or Inf are refused too.

Example::

    from edgecv.models.checkpoint import load_checkpoint
    load_checkpoint(model, Path("runs/best.pt"), arch="resnet20")
"""

from __future__ import annotations

import pickle
import re
import zipfile
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


def read_checkpoint(path: Path, *, trust: bool = False) -> Any:
    """Read a checkpoint on the CPU without running code from it; ``trust`` allows whole pickles and TorchScript."""
    if not path.exists():
        where = "" if path.is_absolute() else f" (looked at {path.absolute()})"
        raise ModelError(
            f"checkpoint {path} does not exist{where}; check model.checkpoint (relative paths resolve "
            "against the recipe's folder)",
            field=FIELD,
        )
    if not path.is_file():
        raise ModelError(f"checkpoint {path} is not a file; model.checkpoint must name a .pt/.pth file", field=FIELD)
    if is_safetensors(path):
        return _read_safetensors(path)
    if _is_torchscript(path):
        if not trust:
            raise _refused(path, "it is a TorchScript archive, and loading TorchScript can run code from the file")
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise _unreadable(path, exc) from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        name = _blocked_global(exc)
        if name is None:
            raise _unreadable(path, exc) from exc
        if not trust:
            raise _refused(path, f"it pickles Python objects ({name}), and unpickling them can run code") from exc
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    try:  # the recipe trusts the file: unpickle it in full
        return torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as exc:
        raise ModelError(
            f"checkpoint {path} pickles objects whose class cannot be imported ({exc}); make the module that "
            "defines them importable, or re-save the weights only: torch.save(model.state_dict(), path)",
            field=FIELD,
        ) from exc
    except Exception as exc:
        raise _unreadable(path, exc) from exc


def is_safetensors(path: Path) -> bool:
    """Whether ``path`` is a safetensors file: by its extension, or by its header (a length, then JSON)."""
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False  # torch.load reports the unreadable file
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"checkpoint {path} is not a readable safetensors file ({_reason(exc)}); copy it again or save it "
            "with safetensors.torch.save_file(model.state_dict(), path)",
            field=FIELD,
        ) from exc


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip like torch.save's, with ``constants.pkl`` beside ``data.pkl``."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(name.count("/") == 1 and name.endswith("/constants.pkl") for name in names)


def _blocked_global(exc: Exception) -> str | None:
    """The global the weights-only unpickler refused (``posix.system``), or None if it failed otherwise."""
    match = re.search(r"GLOBAL ([\w.]+)", str(exc)) or re.search(r"safe_globals\(\[([\w.]+)\]\)", str(exc))
    return match.group(1) if match else None


def _refused(path: Path, why: str) -> ModelError:
    return ModelError(
        f"checkpoint {path} was refused: {why}; re-save the weights with torch.save(model.state_dict(), path) "
        "or as safetensors, or set model.trust_checkpoint: true if you trust the file",
        field=FIELD,
    )


def _unreadable(path: Path, exc: Exception) -> ModelError:
    return ModelError(
        f"checkpoint {path} is not a readable PyTorch file (truncated, corrupt or another format: {_reason(exc)}); "
        "save it with torch.save(model.state_dict(), path) or copy it again",
        field=FIELD,
    )


def _reason(exc: Exception) -> str:
    from edgecv.safe_load import load_error_reason

    return load_error_reason(exc)


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


def check_finite(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Raise a ModelError naming the first tensor that holds NaN or Inf."""
    for key, value in state.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            raise ModelError(
                f"checkpoint {path} holds NaN or Inf in {key!r}; the training that saved it diverged: use an "
                "earlier checkpoint or retrain",
                field=FIELD,
            )


def load_checkpoint(
    model: nn.Module, path: Path | str, *, arch: str | None = None, trust: bool = False
) -> nn.Module:
    """Load the checkpoint at ``path`` into ``model`` strictly and return the model.

    ``arch`` only names the architecture in error messages; ``trust`` (``model.trust_checkpoint``) allows whole
    pickled modules and TorchScript, which can run code. Raises ModelError (field ``model.checkpoint``) when the
    file is missing, unreadable, refused, holds NaN/Inf, or does not fit the model.
    """
    path = Path(path)
    state = extract_state_dict(read_checkpoint(path, trust=trust), path)
    check_finite(state, path)
    check_fits(model, state, path, arch)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelError(
            f"checkpoint {path} cannot be loaded into {arch or 'the model'}: {exc}. Fix: {FIX}", field=FIELD
        ) from exc
    return model
