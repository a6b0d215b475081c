"""CompressedModel -> IntegerGraph lowering (numpy only)."""

from .lowering import lower
from .requant import fixed_point
from .validate import validate
from .weights import lower_weights

__all__ = ["lower", "validate", "fixed_point", "lower_weights"]
