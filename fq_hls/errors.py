"""Errors a user can act on. The CLI prints their message (no traceback) and exits with status 2."""


class FQError(Exception):
    """Base class: the message names the file, layer or field that is wrong."""


class ModelFileError(FQError):
    """A .fqz (or checkpoint) file is corrupt, truncated, of another version or not ours."""


class InputError(FQError):
    """Bad user input: arguments, data folders, shapes."""


class ToolMissingError(FQError):
    """An external tool (vitis_hls, vivado, yosys, g++) is not on PATH; everything up to it was written."""


class DeviceError(FQError):
    """The accelerator (real or emulated) misbehaved: timeout on ap_done, wrong buffer sizes."""


class InvalidModelError(ModelFileError, InputError):
    """A model whose graph, shapes, attributes or numbers are wrong (fq_hls.model_validation): a bad model
    file when it was read from one, bad input to whichever stage was handed it in memory."""
