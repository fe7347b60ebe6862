"""Peer networks of DeblurNet's era, implemented from their papers as far as the forward pass
needs, so that benchmarks can time them on the same inputs (``benchmarks/run.py``).

- :mod:`repro.peers.deepdeblur`: the multi-scale ResNet of Nah, Kim & Lee, CVPR 2017.
"""

from .deepdeblur import DeepDeblur, DeepDeblurConfig, DeepDeblurOutput

__all__ = ["DeepDeblur", "DeepDeblurConfig", "DeepDeblurOutput"]
