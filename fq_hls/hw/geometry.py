"""Line-buffer and tile geometry of a conv/max-pool layer (hls_src/fq_engine.h geometry(); docs/engine.md).

Row mode: tiles of V consecutive output pixels of one output row, a ring of k + stride input rows, each row
the padded input width. At stride 2 a row is stored phase-split: its even columns, then its odd columns
(`half` = ceil(padded / 2) entries each; a 1x1 kernel streams only the even phase, and only the input rows
it reads: see first_row), so that the V pixels of a tile (columns 2x + kx) read V consecutive
entries at `half * (kx & 1) + (kx >> 1) + x`: every read, at either stride, is V consecutive entries, and
lb_banks(cfg) = max(V, AXI bytes) cyclic banks serve it and the fill's beats in one cycle. Reads of the last
tile past its row's end only feed dropped pixels (x >= out_w); LB_SLACK entries after the array keep the
last row's over-read inside it.
Flat mode (small maps, conv only, descriptor flag FLAG_FLAT): the whole padded input map sits in the line
buffer, its rows back to back (pitch = q = padded width, never rounded), and the output map is run as ONE
virtual row of vw = (out_h - 1) * q + out_w pixels: virtual pixel i reads at i * stride like a row-mode pixel
(output row y + 1 starts stride rows = q * stride entries further), so the V-pixel reads stay consecutive
(same banking); i is output (i // q, i % q), dropped when i % q >= out_w (the q - out_w columns between rows).
A 7x7 map (3x3, pad 1) at V = 16 takes ceil(61 / 16) = 4 tiles instead of 7. The fill streams the map row
by row like row mode (a beat per row at 7x7), except with a URAM line buffer: there it streams each
channel's padded map as one run of `flen` entries (`cstride` entries per channel, rounded up to whole fill
beats, so the fill writes whole words though q is not rounded; ceil(flen / fill width) beats per channel),
which costs a padding expander in the load stage (rtl.flat_expander). Stride 1 only: phase-split rows cannot
keep a stride-2 virtual row consecutive (and there the gaps are about half the virtual row anyway).

The max pool runs in channel groups that fit the line buffer (pool_channels), so the line buffer is sized by
the conv layers alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .config import HardwareConfig

# (in_ch, in_w, out_h, out_w, k, s, p) of every conv shape of ResNet-18 at 224x224 and 32x32 (the max pool,
# 64 x 112 -> 56, runs in channel groups and does not size the line buffer)
RESNET18_LAYERS = (
    (3, 224, 112, 112, 7, 2, 3),  # conv1
    (64, 56, 56, 56, 3, 1, 1), (64, 56, 28, 28, 3, 2, 1), (64, 56, 28, 28, 1, 2, 0),
    (128, 28, 28, 28, 3, 1, 1), (128, 28, 14, 14, 3, 2, 1), (128, 28, 14, 14, 1, 2, 0),
    (256, 14, 14, 14, 3, 1, 1), (256, 14, 7, 7, 3, 2, 1), (256, 14, 7, 7, 1, 2, 0),
    (512, 7, 7, 7, 3, 1, 1), (512, 1, 1, 1, 1, 1, 0),
    (3, 32, 32, 32, 3, 1, 1), (64, 32, 32, 32, 3, 1, 1), (64, 32, 16, 16, 3, 2, 1), (64, 32, 16, 16, 1, 2, 0),
    (128, 16, 16, 16, 3, 1, 1), (128, 16, 8, 8, 3, 2, 1), (128, 16, 8, 8, 1, 2, 0), (256, 8, 8, 8, 3, 1, 1),
    (256, 8, 4, 4, 3, 2, 1), (256, 8, 4, 4, 1, 2, 0), (512, 4, 4, 4, 3, 1, 1),
)


POOL_WORDS = 4096  # fused max pool buffer (hls_src pool_acc): out_ch x pooled width of a fused layer
BRAM18_X9_DEPTH = 2048  # entries of one BRAM18 in its 2K x 9 shape: the smallest memory a bank can have


def lb_depth(cfg: HardwareConfig) -> int:
    """Line-buffer entries per copy (hls_src lbb/lbu per copy, fq_config.h LB_DEPTH): cfg.lb_words, or by default what
    ResNet-18's conv layers (224x224 and 32x32) need in row mode at this V, rounded up so that every bank
    (lb_banks) fills the BRAM18s it needs anyway: the spare depth costs nothing and lets more small maps run
    flat. The resource model counts exactly this, plus lb_slack."""
    if cfg.lb_words > 0:
        return cfg.lb_words
    return lb_round(cfg, max(geometry(w, oh, ow, k, s, p, cfg).words(c) for c, w, oh, ow, k, s, p in RESNET18_LAYERS))


def lb_round(cfg: HardwareConfig, need: int) -> int:
    """`need` line-buffer entries rounded up to whole BRAM18s (URAMs) per bank, less the slack (see lb_depth)."""
    slack = lb_slack(cfg)
    if cfg.lb_uram:  # every URAM bank full, less the word per bank a read window may reach past the end
        banks, unit, reserve = lb_ubanks(cfg), URAM_ENTRIES, 8 * lb_ubanks(cfg)
    else:
        banks, unit, reserve = lb_banks(cfg), BRAM18_X9_DEPTH, 0
    per_bank = -(-(need + slack + reserve) // banks)
    return -(-per_bank // unit) * unit * banks - slack - reserve


def lb_depth_choices(cfg: HardwareConfig) -> tuple[int, ...]:
    """HardwareConfig.lb_words values worth sizing: the default, and one more BRAM18 per bank (room for the
    flat mode of larger maps, at the price of a copy's BRAM)."""
    if cfg.lb_uram:
        return (0,)
    return (0, lb_depth(replace(cfg, lb_words=0)) + lb_banks(cfg) * BRAM18_X9_DEPTH)


def first_row(y: int, s: int, p: int) -> int:
    """First input row that output row y reads: rows below it that are not in the line buffer yet are never
    read again (a 1x1 stride-2 kernel skips every other input row)."""
    return y * s - p


def fill_bytes(cfg: HardwareConfig) -> int:
    """Line-buffer entries the fill writes per cycle (fq_config.h FILL_BYTES): an AXI beat per input port."""
    return cfg.in_ports * (cfg.axi_bits // 8)


URAM_ENTRIES = 4096 * 8  # 9-bit entries of one URAM288 (4096 words of 72 bits, 8 entries each)


def lb_align(cfg: HardwareConfig) -> int:
    """Row pitches (and phase lengths) are multiples of this: whole fill beats, so that a URAM line buffer's
    fill writes whole 8-entry words (1: no rounding)."""
    return fill_bytes(cfg) if cfg.lb_uram else 1


def lb_ubanks(cfg: HardwareConfig) -> int:
    """URAM banks of one line-buffer copy (fq_config.h LB_UBANKS): the words a V-entry read at any offset
    spans, ceil((V + 7) / 8), rounded up to a power of two (bank = word mod banks is then a bit select, and
    the reader's word rotation a clean 2^k:1 multiplexer: 555 instead of 1,304 LUTs at V = 16, yosys)."""
    need = (cfg.pixels + 14) // 8
    return 1 << (need - 1).bit_length()


def lb_uwords(cfg: HardwareConfig) -> int:
    """72-bit words per URAM bank of a line-buffer copy (fq_config.h LB_UWORDS): LB_DEPTH + LB_SLACK entries,
    and one more word, the furthest a read window of lb_ubanks words reaches."""
    return -(-(lb_depth(cfg) + lb_slack(cfg)) // (8 * lb_ubanks(cfg))) + 1


def lb_banks(cfg: HardwareConfig) -> int:
    """Cyclic banks of the line buffer (fq_config.h LB_BANKS): a tile reads V consecutive entries, a fill beat
    writes fill_bytes consecutive entries, each in one cycle."""
    return max(cfg.pixels, fill_bytes(cfg))


def lb_copies(cfg: HardwareConfig) -> int:
    """Line-buffer copies the engine declares (fq_config.h LB_COPIES). FQ: each lane reads its own entries, so
    one copy per lane (simple dual port: the lane's read + the fill's write, the fill running beside compute),
    or without fill_overlap one copy per two lanes (both ports read; the fill runs between the tiles). 8-bit:
    the lanes run in lockstep on the same (ci, ky, kx): one copy, read once per cycle and broadcast."""
    if not cfg.sparse:
        return 1
    return cfg.lanes if cfg.fill_overlap else -(-cfg.lanes // 2)


def lb_lanes_per_copy(cfg: HardwareConfig) -> int:
    """Lanes served by one line-buffer copy (fq_config.h LB_LANES_PER_COPY): lane l reads copy l / this."""
    return -(-cfg.lanes // lb_copies(cfg))


def lb_bank_depth(cfg: HardwareConfig) -> int:
    """Entries per bank of a BRAM line-buffer copy (fq_config.h LB_BANK_DEPTH): LB_DEPTH + LB_SLACK entries
    over LB_BANKS banks."""
    return -(-(lb_depth(cfg) + lb_slack(cfg)) // lb_banks(cfg))


def lb_slack(cfg: HardwareConfig) -> int:
    """Entries after LB_DEPTH (fq_config.h LB_SLACK) that the last tile of the last row may over-read for its
    dropped pixels: less than V + the kernel's reach past the row end (URAM: plus a word)."""
    return cfg.pixels + cfg.max_kernel + (8 if cfg.lb_uram else 0)


def pool_channels(in_ch: int, g: Geometry, cfg: HardwareConfig) -> int:
    """Channels per max-pool group: as many as the line buffer holds (0: not even one)."""
    return min(in_ch, lb_depth(cfg) // g.cstride)


@dataclass(frozen=True)
class Geometry:
    tiles: int  # tiles of V pixels per (virtual) output row
    pitch: int  # line-buffer row pitch
    ring: int  # line-buffer rows per input channel
    rows: int  # (virtual) output rows: out_h, or 1 in flat mode
    vw: int  # (virtual) output row width: out_w, or (out_h - 1) * q + out_w
    q: int  # flat mode: virtual pixels per output row (the padded width)
    flat: bool
    half: int = 0  # stride-2 row mode: entries per column phase (even columns, then odd); 0: not split
    phases: int = 2  # split rows: column phases streamed (a 1x1 kernel reads the even phase only)
    cstride: int = 0  # line-buffer entries per input channel (row mode: ring * pitch)
    flen: int = 0  # flat mode, URAM line buffer: entries streamed per channel as one run (0: row by row)

    def beats_per_row(self, fill: int) -> int:
        """Stream beats of `fill` entries that fill one line-buffer row (a phase-split row streams each phase
        it reads in whole beats); a flat map streamed as one run: the beats of one channel's whole map."""
        if self.flen:
            return -(-self.flen // fill)
        if self.half:
            return self.phases * -(-self.half // fill)
        return -(-self.pitch // fill)

    def words(self, in_ch: int) -> int:
        return in_ch * self.cstride

    def last_row(self, y: int, out_h: int, k: int, s: int, p: int) -> int:
        """Last input row that (virtual) output row y reads."""
        return (out_h - 1 if self.flat else y) * s - p + k - 1

    def valid(self, t: int, V: int, out_w: int) -> int:
        """Output pixels tile t of a (virtual) row writes."""
        lo, hi = t * V, min(t * V + V, self.vw)
        if not self.flat:
            return max(0, hi - lo)
        return sum(1 for i in range(lo, hi) if i % self.q < out_w)


def _up(n: int, a: int) -> int:
    return -(-n // a) * a


def geometry(in_w: int, out_h: int, out_w: int, k: int, s: int, p: int, cfg: HardwareConfig,
             flat: bool = False) -> Geometry:
    V = cfg.pixels
    raw = in_w + 2 * p
    if flat:
        if s != 1:
            raise ValueError("flat mode is for stride 1 only")
        q = pitch = raw  # output row y + 1 starts s input rows = s * pitch entries further
        vw = (out_h - 1) * q + out_w
        tiles = -(-vw // V)
        reach = (tiles * V - 1) * s + (k - 1) * pitch + k  # entries the last tile's reads span
        need = (out_h - 1) * s + k  # padded rows the outputs read (the fill streams these)
        ring = max(need, -(-reach // pitch))
        if cfg.lb_uram:  # one run per channel, regions on whole fill beats (whole URAM words)
            return Geometry(tiles, pitch, ring, 1, vw, q, True, cstride=_up(ring * pitch, lb_align(cfg)),
                            flen=need * pitch)
        return Geometry(tiles, pitch, ring, 1, vw, q, True, cstride=ring * pitch)
    padded = _up(raw, lb_align(cfg))  # row pitch (URAM line buffer: whole fill beats)
    tiles = -(-out_w // V)
    half = _up(-(-raw // 2), lb_align(cfg)) if s == 2 else 0
    pitch = 2 * half if half else padded
    return Geometry(tiles, pitch, k + s, out_h, out_w, out_w, False, half, 1 if k == 1 else 2,
                    cstride=(k + s) * pitch)


def flat_possible(in_ch: int, in_w: int, out_h: int, out_w: int, k: int, s: int, p: int,
                  cfg: HardwareConfig) -> bool:
    """Flat mode (stride 1) saves tiles and the whole map fits the line buffer."""
    if out_h < 2 or s != 1:
        return False
    f = geometry(in_w, out_h, out_w, k, s, p, cfg, flat=True)
    r = geometry(in_w, out_h, out_w, k, s, p, cfg)
    return f.tiles < out_h * r.tiles and f.words(in_ch) <= lb_depth(cfg)
