"""fq-hls: focused quantization of sparse CNNs, deployed on Zynq FPGAs through Vitis HLS and PYNQ."""

__version__ = "0.1.0"
