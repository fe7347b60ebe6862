"""The deblurring methods of Table 2: one entry per method, read by evaluate, reproduce and figures.

Each :class:`MethodSpec` says how a method is named (``key`` on the command line, in CSV files
and output folders; ``label`` in tables and figures), how it is built (``constructor``, a
``"module:attribute"`` imported only when the method is built, with keyword ``options``), and what
the paper reported for it (``paper_psnr``, Table 2 of the paper; ``None`` where the paper has no
such row). Adding a method = its module, its test and one entry in :data:`METHODS`.

The order of :data:`METHODS` is the order of the rows of Table 2 (the paper's column order,
with the blurry input first). Facts about the methods: ``docs/paper.md`` ("Table 2",
"Classical baselines").
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["MethodSpec", "METHODS", "keys", "spec", "label", "paper_psnr", "build"]


@dataclass(frozen=True)
class MethodSpec:
    """One deblurring method: how it is named, built, and what the paper reported for it."""

    key: str  # command-line / CSV / output-folder name, e.g. "xu-jia"
    label: str  # name in tables and figures, e.g. "Xu & Jia 2010"
    constructor: str  # "module:attribute", a callable(**options) -> object with .deblur(image)
    paper_psnr: float | None  # Table 2 of the paper (dB, REPORTED on its data); None: not in it
    options: Mapping[str, Any] = field(default_factory=dict)  # keywords always passed to the constructor
    checkpoint_flag: str | None = None  # evaluate's option for its weights (constructor takes checkpoint=)
    takes_device: bool = False  # the constructor takes device= (a network)

    def __post_init__(self) -> None:
        if ":" not in self.constructor:
            raise ValueError(f"{self.key}: constructor must be 'module:attribute', got {self.constructor!r}")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


METHODS: Mapping[str, MethodSpec] = MappingProxyType({s.key: s for s in (
    MethodSpec("identity", "blurry input", "repro.evaluate:Identity", None),
    MethodSpec("sun", "Sun et al. 2015", "repro.baselines.sun:SunEtAl2015", 25.48,
               checkpoint_flag="--checkpoint-sun"),
    MethodSpec("xu-jia", "Xu & Jia 2010", "repro.baselines.xu_jia:XuJia2010", 23.61),
    MethodSpec("l0", "Xu, Zheng & Jia 2013 (space-varying)", "repro.baselines.l0:XuZhengJia2013", 22.50,
               options={"space_varying": True}),
    MethodSpec("deblurnet-si", "DeblurNet^SI", "repro.evaluate:DeblurNetMethod", 25.8,
               options={"name": "deblurnet-si"}, checkpoint_flag="--checkpoint-si", takes_device=True),
    MethodSpec("deblurnet-wild", "DeblurNet^WILD", "repro.evaluate:DeblurNetMethod", 28.1,
               options={"name": "deblurnet-wild"}, checkpoint_flag="--checkpoint-wild", takes_device=True),
    # Not in the paper: the same weights averaged over the 8 flips and quarter turns of the input
    # (repro.core.inference.SelfEnsemble), 8x the time; it shares DeblurNet^WILD's --checkpoint-wild.
    MethodSpec("deblurnet-wild-x8", "DeblurNet^WILD, x8 self-ensemble", "repro.evaluate:DeblurNetMethod", None,
               options={"name": "deblurnet-wild-x8", "self_ensemble": True}, checkpoint_flag="--checkpoint-wild",
               takes_device=True),
)})


def keys() -> tuple[str, ...]:
    """Every method key, in the order of Table 2's rows."""
    return tuple(METHODS)


def spec(key: str) -> MethodSpec:
    """The :class:`MethodSpec` of ``key``; ``ValueError`` naming the choices otherwise."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose from {', '.join(METHODS)}") from None


def label(key: str) -> str:
    """The name of a method in tables and figures (``key`` itself for a method not in the table)."""
    return METHODS[key].label if key in METHODS else key


def paper_psnr(key: str) -> float | None:
    """The PSNR the paper reported for ``key`` in its Table 2, or None."""
    return METHODS[key].paper_psnr if key in METHODS else None


def build(key: str, *, checkpoint: str | os.PathLike | None = None, device: str = "auto", **options: Any):
    """Build the method ``key``: its constructor with the table's ``options``, then ``options``.

    ``checkpoint`` (None = the shipped weights) goes to methods with weights; ``device`` to
    networks. Raises ``ValueError`` for an unknown key, a checkpoint for a method without
    weights, or a constructor that cannot be imported. The built method's ``name`` is ``key``.
    """
    s = spec(key)
    module_name, _, attribute = s.constructor.partition(":")
    try:
        constructor = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"method {key!r} needs {module_name}.{attribute}, which cannot be imported "
                         f"({type(exc).__name__}: {exc})") from exc
    kwargs = {**s.options, **options}
    if s.checkpoint_flag is not None:
        kwargs["checkpoint"] = checkpoint
    elif checkpoint is not None:
        raise ValueError(f"method {key!r} takes no checkpoint")
    if s.takes_device:
        kwargs["device"] = device
    method = constructor(**kwargs)
    try:
        method.name = key
    except AttributeError:
        pass
    return method
