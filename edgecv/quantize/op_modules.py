"""Which module ran each op of NNCF's traced graph, recorded while tracing rather than read from the op's name.

NNCF names an op by the modules on the call stack, each by its attribute name in the module below it: the conv of
``layer1.0.conv1`` is ``layer1/0/conv1/conv2d/0``. A module whose forward calls a grandchild directly drops the
segments in between: torchvision's SSDLite feature extractor runs ``for block in self.features: x = block(x)``, and
edgecv's detector wrapper calls ``self.net.backbone(...)``, so the stem's hard-swish of ``net.backbone.features.0.0.2``
is named ``0/2/add/0``, and the name no longer leads back to the module (several modules share such a name; NNCF
only counts them apart). Code that asks "is this op inside an ``Int8Hardswish``?" must not parse names.

Example::

    graph, modules = traced_graph(model, torch.zeros(1, 3, 96, 96))
    modules["0/2/add/0"]          # the Int8Hardswish whose forward ran that add
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def traced_graph(model: nn.Module, example: torch.Tensor) -> tuple[Any, dict[str, nn.Module]]:
    """NNCF's graph of ``model`` on ``example`` (as ``build_nncf_graph`` builds it) and, per op name, the module
    whose forward was running when the op was called (a hook's quantizer for the quantizer's own ops)."""
    from nncf.torch.function_hook.graph.build_graph_mode import GraphBuilderMode
    from nncf.torch.function_hook.hook_storage import HookStorage
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import convert_to_nncf_graph
    from nncf.torch.function_hook.wrapper import ForwardWithHooks, get_hook_storage
    from nncf.torch.utils import training_mode_switcher

    modules: dict[str, nn.Module] = {}

    class Recorder(GraphBuilderMode):  # type: ignore[misc]
        def get_next_op_call_name(self, fn_name: str) -> str:
            name: str = super().get_next_op_call_name(fn_name)
            modules[name] = self.module_call_stack[-1]
            return name

    if isinstance(model.forward, ForwardWithHooks):
        storage, forward = get_hook_storage(model), model.forward.orig_forward
    else:
        storage, forward = HookStorage(), model.forward
    with training_mode_switcher(model, is_training=False), Recorder(model=model, hook_storage=storage) as mode:
        args, kwargs = mode.process_model_inputs((example,), {})
        mode.process_model_outputs(forward(*args, **kwargs))
    return convert_to_nncf_graph(mode.graph), modules
