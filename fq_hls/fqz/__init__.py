"""Lossless coding of a CompressedModel (canonical Huffman + relative sparse indices) and the `.fqz` file.

    write_fqz(model, path)      atomic write; returns the file size
    read_fqz(path)              -> CompressedModel (ModelFileError on any defect)
    encode_model / decode_model the same in memory
    size_report(model)          exact, itemised byte accounting and the compression ratio
    models_equal(a, b)          bit-exact comparison (model_differences lists what differs)

Byte layout and versioning: docs/fqz_format.md.
"""

from .equality import model_differences, models_equal
from .layout import MAGIC, VERSION
from .reader import decode_model, read_fqz
from .sizes import size_report
from .writer import encode_model, write_fqz

__all__ = [
    "MAGIC",
    "VERSION",
    "decode_model",
    "encode_model",
    "model_differences",
    "models_equal",
    "read_fqz",
    "size_report",
    "write_fqz",
]
