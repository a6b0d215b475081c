"""Register map of the fq_accel IP's s_axilite `control` bundle (Vitis HLS conventions; docs/accel_abi.md)."""

CTRL = 0x00
AP_START = 1 << 0
AP_DONE = 1 << 1
AP_IDLE = 1 << 2
AP_READY = 1 << 3
GIE = 0x04
IER = 0x08
ISR = 0x0C

WEIGHTS = 0x10  # 64-bit pointer: low word here, high word at +4
ACT_IN = 0x1C
ACT_OUT = 0x28
DESC = 0x34
N_LAYERS = 0x40
ACT_IN2 = 0x48  # the activation buffer again: the second input read port (gmem_in2)

REGISTERS = {"weights": WEIGHTS, "act_in": ACT_IN, "act_out": ACT_OUT, "desc": DESC, "n_layers": N_LAYERS,
             "act_in2": ACT_IN2}
ADDRESS_RANGE = 0x10000  # size of the s_axilite segment in the block design
VLNV = "fq-hls.org:hls:fq_accel:1.0"
TOP = "fq_accel"
