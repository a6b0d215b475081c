"""Synthetic models and images (numpy only, no torch, no data files): see fq_hls.synthetic.models."""

from .models import random_compressed, random_conv_graph, random_images, random_resnet
from .quantizers import prune, quantize, quantize_int8, quantize_recentralized, quantize_shift

__all__ = [
    "prune",
    "quantize",
    "quantize_int8",
    "quantize_recentralized",
    "quantize_shift",
    "random_compressed",
    "random_conv_graph",
    "random_images",
    "random_resnet",
]
