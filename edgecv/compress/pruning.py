"""Structured channel pruning with Torch-Pruning: channels are removed, so the model is smaller and faster.

Torch-Pruning traces the dependencies between layers (residual adds, concatenations) so coupled channels are
removed together. edgecv adds: channel counts rounded to the device's alignment (``round_to``; without it a
pruned MobileNetV2 ran slower than the dense one, DESIGN: measured facts), MACs or parameter targets reached
step by step, the classifier head left whole, and the layers whose channels pass a channel shuffle kept whole
(edgecv.compress.channel_splits: Torch-Pruning cannot map them; the rest of a ShuffleNetV2-style network prunes).

Example::

    pruner = ChannelPruner(model, example=torch.zeros(1, 3, 32, 32), importance="l2", round_to=8)
    pruner.prune_until(macs_fraction=0.5)        # or pruner.prune_ratio(0.3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch_pruning as tp
from torch import nn

from edgecv.compress.channel_splits import channel_split_layers
from edgecv.compress.concat_mapping import ConcatRecorder, fix_concat_mappings
from edgecv.errors import RecipeError
from edgecv.model_stats import count_macs, count_params
from edgecv.models.pruning import customized_pruners

FINE_STEPS = 100  # granularity of the search for a MACs/params target


def make_importance(kind: str) -> Any:
    """Torch-Pruning importance criterion by name: l1, l2 (weight magnitude), bn_scale, taylor (needs grads)."""
    if kind == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if kind == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind == "bn_scale":
        return tp.importance.BNScaleImportance()
    return tp.importance.GroupTaylorImportance()


def classifier_heads(model: nn.Module) -> list[nn.Module]:
    """The last Linear (or 1x1 Conv producing the logits) of the model: pruning it would change the classes."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    return layers[-1:]


def named_modules(model: nn.Module, names: list[str], key: str) -> list[nn.Module]:
    """Modules by name; an unknown name is a RecipeError listing close ones."""
    table = dict(model.named_modules())
    found = []
    for name in names:
        if name not in table:
            import difflib

            close = difflib.get_close_matches(name, list(table), n=3)
            raise RecipeError(f"key '{key}': no module named '{name}' in the model; close: {', '.join(close) or '-'}")
        found.append(table[name])
    return found


def attention_heads(model: nn.Module) -> dict[nn.Module, int]:
    """``nn.MultiheadAttention`` -> its head count: Torch-Pruning prunes the embedding evenly across the heads."""
    return {m: m.num_heads for m in model.modules() if isinstance(m, nn.MultiheadAttention)}


def sync_widths(model: nn.Module) -> None:
    """Update width attributes that ``forward`` reads after Torch-Pruning shrank the layers they describe.

    torchvision's VisionTransformer reshapes the patch embedding with ``self.hidden_dim``; left stale after the
    embedding is pruned, the next forward fails (``shape '[1, 768, 16]' is invalid``).
    """
    for module in model.modules():
        projection = getattr(module, "conv_proj", None)
        if isinstance(projection, nn.Conv2d) and isinstance(getattr(module, "hidden_dim", None), int):
            module.hidden_dim = projection.out_channels


class ChannelPruner:
    """Prunes a model in place, in small steps, until a channel ratio or a MACs/params fraction is reached."""

    def __init__(self, model: nn.Module, example: torch.Tensor, *, importance: str = "l2", round_to: int | None = 8,
                 global_pruning: bool = False, max_layer_ratio: float = 0.9, ignored: list[nn.Module] | None = None,
                 ratio: float | None = None, gradient_fn: Callable[[nn.Module], None] | None = None,
                 steps: int = 1, baseline: tuple[int, int] | None = None,
                 heads: list[nn.Module] | None = None) -> None:
        """``heads``: the modules the task keeps whole (default: the classifier head, see classifier_heads)."""
        self.model = model
        self.example = example
        self.gradient_fn = gradient_fn if importance == "taylor" else None
        # fractions count from ``baseline`` (MACs, params) when given: the model before earlier surgery
        self.base_macs, self.base_params = baseline or (count_macs(model, tuple(example.shape[1:])),
                                                        count_params(model))
        # a ratio is reached in ``steps`` equal steps; a MACs/params target is searched in fine steps
        steps = FINE_STEPS * steps if ratio is None else steps
        whole = [*(classifier_heads(model) if heads is None else heads), *(ignored or [])]
        self.channel_split_layers = channel_split_layers(model, example, ignored=whole)
        with ConcatRecorder() as recorder:  # concat inputs Torch-Pruning's trace misses (concat_mapping)
            self.pruner = tp.pruner.MetaPruner(
                model, example, importance=make_importance(importance), global_pruning=global_pruning,
                pruning_ratio=ratio if ratio is not None else max_layer_ratio, max_pruning_ratio=max_layer_ratio,
                iterative_steps=steps, ignored_layers=[*whole, *self.channel_split_layers],
                round_to=round_to, customized_pruners=customized_pruners(), num_heads=attention_heads(model),
            )
        self.fixed_concats = fix_concat_mappings(self.pruner.DG, recorder)
        self.steps_taken = 0
        self.total_steps = steps

    def prunable_groups(self) -> int:
        """How many channel groups Torch-Pruning may prune (0: every group touches a layer kept whole)."""
        return sum(1 for _ in self.pruner.DG.get_all_groups(ignored_layers=self.pruner.ignored_layers,
                                                            root_module_types=self.pruner.root_module_types))

    def macs_fraction(self) -> float:
        return count_macs(self.model, tuple(self.example.shape[1:])) / self.base_macs

    def params_fraction(self) -> float:
        return count_params(self.model) / self.base_params

    def _step(self) -> bool:
        if self.steps_taken >= self.total_steps:
            return False
        if self.gradient_fn is not None:
            self.gradient_fn(self.model)
        self.pruner.step()
        sync_widths(self.model)
        self.steps_taken += 1
        return True

    def prune_ratio(self) -> None:
        """Remove the ratio of channels given at construction (per layer, or globally ranked)."""
        self._step()

    def prune_until(self, macs_fraction: float | None = None, params_fraction: float | None = None) -> bool:
        """Step until MACs (and/or params) are at or below the fractions; False if the layer cap stopped it first."""
        def reached() -> bool:
            return (macs_fraction is None or self.macs_fraction() <= macs_fraction) and (
                params_fraction is None or self.params_fraction() <= params_fraction
            )

        while not reached():
            if not self._step():
                return False
        return True


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, loader: Any, batches: int) -> None:
    """Re-estimate every BatchNorm's running mean/variance on ``batches`` training batches (cumulative average).

    Removing channels shifts the statistics downstream layers see; fresh statistics recover much of the
    accuracy lost at the moment of pruning, before any fine-tuning.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or batches <= 0:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    for index, (images, _) in enumerate(loader):
        if index >= batches:
            break
        model(images)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.eval()
