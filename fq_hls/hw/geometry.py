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

# (in_ch, in_w, out_h, out_w, k, s, p) of every conv / max-pool shape of ResNet-18 at 224x224 and 32x32
RESNET18_LAYERS = (
    (3, 224, 112, 112, 7, 2, 3), (64, 112, 56, 56, 3, 2, 1),  # conv1, maxpool
    (64, 56, 56, 56, 3, 1, 1), (64, 56, 28, 28, 3, 2, 1), (64, 56, 28, 28, 1, 2, 0),
    (128, 28, 28, 28, 3, 1, 1), (128, 28, 14, 14, 3, 2, 1), (128, 28, 14, 14, 1, 2, 0),
    (256, 14, 14, 14, 3, 1, 1), (256, 14, 7, 7, 3, 2, 1), (256, 14, 7, 7, 1, 2, 0),
    (512, 7, 7, 7, 3, 1, 1), (512, 1, 1, 1, 1, 1, 0),
    (3, 32, 32, 32, 3, 1, 1), (64, 32, 32, 32, 3, 1, 1), (64, 32, 16, 16, 3, 2, 1), (64, 32, 16, 16, 1, 2, 0),
    (128, 16, 16, 16, 3, 1, 1), (128, 16, 8, 8, 3, 2, 1), (128, 16, 8, 8, 1, 2, 0), (256, 8, 8, 8, 3, 1, 1),
    (256, 8, 4, 4, 3, 2, 1), (256, 8, 4, 4, 1, 2, 0), (512, 4, 4, 4, 3, 1, 1),
)


def lb_depth(cfg: HardwareConfig) -> int:
    """Line-buffer entries per copy (hls_src lbuf, fq_config.h LB_DEPTH): cfg.lb_words, or by default what
    ResNet-18 (224x224 and 32x32) needs in row mode at this V. The resource model counts exactly this;
    flat mode is used only where the whole map fits in it."""
    if cfg.lb_words > 0:
        return cfg.lb_words
    return max(geometry(w, oh, ow, k, s, p, cfg).words(c) for c, w, oh, ow, k, s, p in RESNET18_LAYERS)


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
