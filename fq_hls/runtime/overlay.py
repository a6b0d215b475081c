"""`FqOverlay`: the fq_accel overlay as a `pynq.Overlay`, with PL clocks, predict and a throughput test.

What it adds to `pynq.Overlay` (the pattern users of hls4ml's NeuralNetworkOverlay and FINN's
FINNExampleOverlay know, written for this IP):

* PL clocks before the download: pynq programs each enabled PL clock at the rate its parser read from the
  .hwh. For the Zynq-7000 pynqmetadata reads only the ZynqMP parameter name, finds no rate and would hand
  `Clocks.set_pl_clk` None; the rate is taken from the .hwh's own `PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ`, else
  from hw_config.json's `clock_mhz`. `fclk_mhz=` sets PL clock 0 explicitly; `fclk_mhz` reads it back.
* the register map and the address map of the .hwh checked by the driver (fq_hls.runtime.driver);
* `predict(images, batch_size=...)` and `throughput_test()` once a network is loaded (`FqOverlay.open` or
  `Accelerator`, which owns the buffers and the program image).
"""

from __future__ import annotations

import os
import weakref

import pynq

from ..errors import DeviceError, InputError
from ..hw.config import HardwareConfig
from .hwh import HwhInfo, read_hwh


class FqOverlay(pynq.Overlay):
    """pynq.Overlay of an fq_accel build; see the module docstring."""

    def __init__(self, bitfile_name: str, *, hw_config: HardwareConfig | None = None, fclk_mhz: float | None = None,
                 download: bool = True, device=None, **kwargs):
        from . import driver as _driver  # noqa: F401  (registers FQAccelDriver with pynq before the parse)

        if fclk_mhz is not None and not (isinstance(fclk_mhz, (int, float)) and 10.0 <= fclk_mhz <= 800.0):
            raise InputError(f"fclk_mhz {fclk_mhz!r}: expected a PL clock of 10..800 MHz")
        super().__init__(bitfile_name, download=False, device=device, **kwargs)
        self.hw_config = hw_config
        self.hwh: HwhInfo = read_hwh(os.path.splitext(self.bitfile_name)[0] + ".hwh")
        self._accel_ref = None
        self._set_clock_table(fclk_mhz)
        if download:
            self.download()

    # --- clocks ------------------------------------------------------------------------------------------
    def _set_clock_table(self, fclk_mhz: float | None) -> None:
        for i, clk in self.clock_dict.items():
            if not clk.get("enable"):
                continue
            if i == 0 and fclk_mhz is not None:
                clk["frequency"] = float(fclk_mhz)
            elif clk.get("frequency") is None:
                rate = self.hwh.pl_clocks_mhz.get(i)
                if rate is None and i == 0 and self.hw_config is not None:
                    rate = float(self.hw_config.clock_mhz)
                if rate is None:
                    raise DeviceError(f"{self.hwh.path}: PL clock {i} is enabled but the .hwh gives no rate; "
                                      "pass fclk_mhz")
                clk["frequency"] = rate

    @property
    def fclk_mhz(self) -> float:
        """PL clock 0 as the PS clock registers say (pynq.Clocks), i.e. the rate the IP runs at."""
        dev = self.device
        if hasattr(dev, "pl_clock_mhz"):  # the emulated board: pynq.Clocks on its own clock registers
            return dev.pl_clock_mhz(0)
        return float(pynq.Clocks.fclk0_mhz)

    @fclk_mhz.setter
    def fclk_mhz(self, mhz: float) -> None:
        pynq.Clocks.set_device(self.device)
        pynq.Clocks.set_pl_clk(0, clk_mhz=float(mhz))

    # --- inference (needs a loaded network) ------------------------------------------------------------------
    @classmethod
    def open(cls, path: str, **kwargs) -> FqOverlay:
        """Load a build folder (or, with emulate=True, a .fqz) and return its overlay, ready to predict."""
        from .runner import Accelerator

        acc = Accelerator.open(path, **kwargs)
        acc.overlay._owner = acc  # this overlay keeps its accelerator (and the buffers) alive
        return acc.overlay

    def attach(self, accelerator) -> None:
        self._accel_ref = weakref.ref(accelerator)

    @property
    def accelerator(self):
        acc = self._accel_ref() if self._accel_ref is not None else None
        if acc is None:
            raise InputError("no network loaded on this overlay: use FqOverlay.open(build_dir) or Accelerator")
        return acc

    def predict(self, images, batch_size: int | None = None, overlap: bool = True):
        """int32 logits of uint8 NHWC pixels or int8 NCHW inputs (see Accelerator.predict)."""
        return self.accelerator.predict(images, batch_size=batch_size, overlap=overlap)

    def throughput_test(self, images: int = 32, **kwargs) -> dict:
        """Images/s, DDR bytes/s, fclk and host time per step on random inputs (see Accelerator)."""
        return self.accelerator.throughput_test(images, **kwargs)
