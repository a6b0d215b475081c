"""Line-buffer and tile geometry of a conv/max-pool layer (hls_src/fq_engine.h geometry(); docs/engine.md).

Row mode: tiles of V consecutive output pixels of one output row, a ring of k + stride input rows.
Flat mode (small maps, conv only, descriptor flag FLAG_FLAT): the whole padded input map sits in the line
buffer, its rows back to back (pitch = q = padded width), and the output map is run as ONE virtual row of
vw = (out_h - 1) * q + out_w pixels: virtual pixel i reads at i * stride like a row-mode pixel (output row
y + 1 starts stride rows = q * stride entries further), so the V-pixel reads stay consecutive (same banking);
i is output (i // q, i % q), dropped when i % q >= out_w (the q - out_w columns between rows). A 7x7 map
(3x3, pad 1) at V = 16 takes ceil(61 / 16) = 4 tiles instead of 7; at stride 2 the gaps are about half the
virtual row, so it rarely saves tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import HardwareConfig


def lb_depth(cfg: HardwareConfig) -> int:
    """Line-buffer entries of the engine (hls_src lbuf, fq_config.h LB_DEPTH)."""
    return cfg.max_in_ch * cfg.max_width


@dataclass(frozen=True)
class Geometry:
    tiles: int  # tiles of V pixels per (virtual) output row
    pitch: int  # line-buffer row pitch
    ring: int  # line-buffer rows per input channel
    rows: int  # (virtual) output rows: out_h, or 1 in flat mode
    vw: int  # (virtual) output row width: out_w, or (out_h - 1) * q + out_w
    q: int  # flat mode: virtual pixels per output row (the padded width)
    flat: bool

    def words(self, in_ch: int) -> int:
        return in_ch * self.ring * self.pitch

    def last_row(self, y: int, out_h: int, k: int, s: int, p: int) -> int:
        """Last input row that (virtual) output row y reads."""
        return (out_h - 1 if self.flat else y) * s - p + k - 1

    def valid(self, t: int, V: int, out_w: int) -> int:
        """Output pixels tile t of a (virtual) row writes."""
        lo, hi = t * V, min(t * V + V, self.vw)
        if not self.flat:
            return max(0, hi - lo)
        return sum(1 for i in range(lo, hi) if i % self.q < out_w)


def geometry(in_w: int, out_h: int, out_w: int, k: int, s: int, p: int, cfg: HardwareConfig,
             flat: bool = False) -> Geometry:
    V = cfg.pixels
    if flat:
        q = pitch = in_w + 2 * p  # output row y + 1 starts s input rows = s * pitch entries further
        vw = (out_h - 1) * q + out_w
        tiles = -(-vw // V)
        reach = (tiles * V - 1) * s + (k - 1) * pitch + k  # entries the last tile's reads span
        ring = max((out_h - 1) * s + k, -(-reach // pitch))
        return Geometry(tiles, pitch, ring, 1, vw, q, True)
    tiles = -(-out_w // V)
    pitch = max(in_w + 2 * p, (tiles * V - 1) * s + k)
    return Geometry(tiles, pitch, k + s, out_h, out_w, out_w, False)


def flat_possible(in_ch: int, in_w: int, out_h: int, out_w: int, k: int, s: int, p: int,
                  cfg: HardwareConfig) -> bool:
    """Flat mode saves tiles and the whole map fits the line buffer."""
    if out_h < 2:
        return False
    f = geometry(in_w, out_h, out_w, k, s, p, cfg, flat=True)
    r = geometry(in_w, out_h, out_w, k, s, p, cfg)
    return f.tiles < out_h * r.tiles and f.words(in_ch) <= lb_depth(cfg)
