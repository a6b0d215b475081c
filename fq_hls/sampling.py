"""Class-balanced image order (numpy only): shared by the torch-side evaluation and the board's runtime."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def class_balanced_order(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Indices visiting the classes round-robin (first image of each class, then the second, ...), each
    class in its original order; a class that runs out is skipped. The first N indices are a balanced
    sample, which is what `--limit N` / `--images N` take."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    rank = np.arange(len(labels)) - np.searchsorted(sorted_labels, sorted_labels, side="left")
    # sort by (rank, class): lexsort's last key is primary
    return order[np.lexsort((sorted_labels, rank))]
