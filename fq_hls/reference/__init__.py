"""Numpy executors: the bit-exact integer reference (the contract) and the float model it is checked against."""

from .executor import run_integer, run_layer
from .float_model import calibrate_numpy, run_float

__all__ = ["run_integer", "run_layer", "run_float", "calibrate_numpy"]
