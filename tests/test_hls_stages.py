"""g++ testbenches of the engine's stage headers (tests/csim/tb_*.cpp), one per stage: the line buffer
(fq_buffers.h), the processing elements (fq_pe.h), the load and fill (fq_load.h) and the max pool (fq_pool.h).

Each testbench includes its stage header from the sources that fq_hls.codegen writes for a small configuration,
and is built twice: the fast C-simulation path and the path Vitis HLS synthesizes (-DFQ_HLS_PATH_CHECK). Every
test also runs its testbench against a wrong expectation, which must fail."""

from __future__ import annotations

import copy
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _csim_helpers import need_csim

from fq_hls.hw.config import HardwareConfig, hardware_config

pytestmark = pytest.mark.csim

TB_DIR = Path(__file__).resolve().parent / "csim"


def _cfg(engine: str, uram: bool = False, **overrides) -> HardwareConfig:
    kw = dict(lanes=4, pixels=4, axi_bits=64, max_nnz_per_lane=512, lb_uram=uram)
    kw.update(overrides)
    return hardware_config("kv260" if uram else "pynq-z2", engine, **kw)  # URAM line buffer: a URAM board


class _Builds:
    """Generated sources per configuration and the testbenches compiled against them (module-wide cache)."""

    def __init__(self, root: Path):
        self.root = root
        self.src: dict[HardwareConfig, Path] = {}

    def sources(self, cfg: HardwareConfig) -> Path:
        from fq_hls.codegen import write_sources

        if cfg not in self.src:
            d = self.root / f"cfg{len(self.src)}"
            write_sources(cfg, d)
            self.src[cfg] = d
        return self.src[cfg]

    def _compile(self, tb: str, src: Path, hls_path: bool) -> Path:
        from fq_hls.csim.kernel import SIM_INCLUDE, ap_types_dir, compiler

        exe = src / (tb + ("_hls" if hls_path else ""))
        # SIM_INCLUDE: the check headers fq_stream.h/fq_ports.h may include on the synthesized path
        cmd = [compiler(), "-std=c++14", "-O1", "-isystem", str(ap_types_dir()), "-I", str(SIM_INCLUDE),
               "-I", str(src)] + (["-DFQ_HLS_PATH_CHECK"] if hls_path else []) + [str(TB_DIR / f"{tb}.cpp"),
               "-o", str(exe)]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr[-4000:]}"
        return exe

    def build(self, tb: str, cfg: HardwareConfig, which: tuple[str, ...] = ("fast", "hls")) -> dict[str, Path]:
        """Testbench `tb` for `cfg`: {"fast": ..., "hls": ...}, the two compiled side by side."""
        src = self.sources(cfg)
        paths = {k: p for k, p in {"fast": src / tb, "hls": src / f"{tb}_hls"}.items() if k in which}
        todo = [k for k, p in paths.items() if not p.is_file()]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda k: self._compile(tb, src, k == "hls"), todo))
        return paths


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> _Builds:
    need_csim()
    return _Builds(tmp_path_factory.mktemp("hls_stages"))


def _run(exe: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=120)


def _passes(r: subprocess.CompletedProcess, min_checks: int) -> str:
    m = re.search(r"^PASS checks=(\d+)", r.stdout, re.M)
    assert r.returncode == 0 and m, r.stdout[-3000:] + r.stderr[-2000:]
    assert int(m.group(1)) >= min_checks, r.stdout
    return r.stdout


def _fails(r: subprocess.CompletedProcess, what: str) -> None:
    assert r.returncode == 1 and re.search(r"^FAILED \d+ of \d+ checks", r.stdout, re.M), r.stdout + r.stderr
    assert what in r.stdout, r.stdout


# ------------------------------------------------------------------------------------------- line buffer
@pytest.mark.parametrize(
    "engine,uram,overlap",
    [("fq", False, True), ("fq", False, False), ("fq", True, True), ("fq", True, False),
     ("int8", False, True), ("int8", True, True)],
    ids=["fq-bram", "fq-bram-nooverlap", "fq-uram", "fq-uram-nooverlap", "int8-bram", "int8-uram"],
)  # fmt: skip
def test_line_buffer_put_get(builds, engine, uram, overlap):
    """Random fill beats at every row and beat a layer's geometry allows (plain, phase-split with one and two
    phases, 7x7, flat maps, a layer up to the top of the array), read back from every lane (every copy of the
    synthesized path: LB_COPIES differ with fill_overlap) against a flat reference."""
    from fq_hls.hw.geometry import lb_copies

    cfg = _cfg(engine, uram, fill_overlap=overlap)
    for path, exe in builds.build("tb_buffers", cfg).items():
        out = _passes(_run(exe), 500_000)
        assert f"copies={lb_copies(cfg)}" in out, (path, out)
        _fails(_run(exe, "corrupt"), "FAIL lb_get lane/entry")


# ------------------------------------------------------------------------------------------- PEs
def _weight_terms(layer, coding, o, ci, ky, kx) -> list[tuple[int, int, int]]:
    """(sign, exp, comp) of the shift terms of one weight (docs/weight_stream.md "Which code a weight gets")."""
    from fq_hls.hw.streams import csd_terms

    if coding.from_fields:
        comp = 0 if layer.wcomp is None else int(layer.wcomp[o, ci, ky, kx])
        return [(int(layer.wsign[o, ci, ky, kx]), int(layer.wexp[o, ci, ky, kx]), comp)]
    return [(s, e, 0) for s, e in csd_terms(int(layer.weights[o, ci, ky, kx]) >> coding.q_shift)]


def _fq_expected(layer, coding) -> list[list[list[int]]]:
    """What each entry of each output channel means, from the weights: escapes bridge channel steps beyond
    step_max(k), each weight's terms carry its (ci, ky, kx), an empty channel is one no-weight `last` entry.
    Records: ok, nop, last, ci, ky, kx, sign, exp, comp, w."""
    from fq_hls.hw.streams import step_max

    w = np.asarray(layer.weights, np.int64)
    dmax = step_max(layer.kernel)
    mu = [coding.mu_sign[c] * (1 << coding.mu_shift[c]) for c in range(2)]
    out = []
    for o in range(w.shape[0]):
        recs, prev = [], 0
        for ci, ky, kx in zip(*np.nonzero(w[o]), strict=True):  # position order (ci, ky, kx)
            recs += [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]] * max(0, (int(ci) - prev - 1) // dmax)
            terms = _weight_terms(layer, coding, o, ci, ky, kx)
            value = sum(s << (e + coding.q_shift) for s, e, _ in terms) + (mu[terms[0][2]] if coding.from_fields else 0)
            assert value == w[o, ci, ky, kx]  # the expectation itself reproduces the weight
            recs += [[1, 0, 0, int(ci), int(ky), int(kx), s, e, c, 0] for s, e, c in terms]
            prev = int(ci)
        recs = [list(r) for r in recs] or [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]]
        recs[-1][2] = 1
        out.append(recs)
    return out


def _int8_sparse_expected(layer) -> list[list[list[int]]]:
    """int8_sparse: the FQ escapes and positions, one entry per non-zero weight carrying the weight itself."""
    from fq_hls.hw.streams import step_max

    w = np.asarray(layer.weights, np.int64)
    dmax = step_max(layer.kernel)
    out = []
    for o in range(w.shape[0]):
        recs, prev = [], 0
        for ci, ky, kx in zip(*np.nonzero(w[o]), strict=True):
            recs += [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]] * max(0, (int(ci) - prev - 1) // dmax)
            recs.append([1, 0, 0, int(ci), int(ky), int(kx), 0, 0, 0, int(w[o, ci, ky, kx])])
            prev = int(ci)
        recs = recs or [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]]
        recs[-1][2] = 1
        out.append(recs)
    return out


def _int8_expected(layer, n_pad: int) -> tuple[list[list[list[int]]], list[list[int]]]:
    """Dense walk of every output channel, and of `n_pad` padding entries (they keep walking, no output)."""
    w = np.asarray(layer.weights, np.int64)
    k = layer.kernel
    kvol = w[0].size

    def pos(t: int) -> list[int]:
        t %= kvol
        return [t // (k * k), (t // k) % k, t % k]

    chans = [[[1, 0, int(t == kvol - 1)] + pos(t) + [0, 0, 0, int(v)] for t, v in enumerate(w[o].reshape(-1))]
             for o in range(w.shape[0])]  # fmt: skip
    pad = [[1, 1, 0] + pos(t) + [0, 0, 0, 0] for t in range(n_pad)]
    return chans, pad


def _two_means(layer, rng):
    """The layer's sparsity pattern with random recentralized fields whose component means differ in shift
    (mu = -2^2, +2^3: the PE's per-component mean shift d is 0 and 1), some weights their mean alone."""
    import dataclasses

    nz = np.asarray(layer.weights) != 0
    sign = np.where(nz, rng.integers(-1, 2, nz.shape), 0).astype(np.int8)
    exp = np.where(nz, rng.integers(0, 6, nz.shape), 0).astype(np.uint8)
    comp = np.where(nz, rng.integers(0, 2, nz.shape), 0).astype(np.uint8)
    mu = np.array([-(1 << 2), 1 << 3])
    w = np.where(nz, sign * (1 << exp.astype(np.int64)) + mu[comp], 0)
    wf = dataclasses.replace(layer.wformat, kind="fq", q_shift=0, mu_shift=(2, 3), mu_sign=(-1, 1))
    return dataclasses.replace(layer, weights=w.astype(np.int32), wsign=sign, wexp=exp, wcomp=comp, wformat=wf)


def _pe_layers(cfg: HardwareConfig, seed: int = 0) -> list[dict]:
    """Random sparse layers of kernel 1, 3 and 7 (FQ: also one streamed as signed-digit terms and one whose
    means differ in shift), their lanes' raw entries with expectations and sums, and (FQ) entries the decoder
    must refuse."""
    from fq_hls.hw.streams import (
        NOP_CODE,
        SIGN_POS,
        channel_entries_fq,
        channel_entries_int8,
        channel_entries_int8_sparse,
        kpos_bits,
        shift_coding,
    )
    from fq_hls.synthetic import random_conv_graph

    fq = cfg.engine == "fq"
    rng = np.random.default_rng(seed)
    if cfg.engine == "int8_sparse":  # kernel 1, 3, 7 with escapes, and a denser one
        specs_sp = [(1, 300, 10, 0.985), (3, 40, 10, 0.95), (7, 6, 8, 0.96), (3, 8, 6, 0.3)]
    # kernel, in_ch, out_ch, sparsity, method, means that differ in shift; sparse enough for escapes
    specs = [(1, 300, 10, 0.985, "fq5", False), (3, 40, 10, 0.95, "fq5", False), (7, 6, 8, 0.96, "fq5", False),
             (3, 8, 6, 0.5, "int8", False), (3, 12, 8, 0.6, "fq5", True)]  # fmt: skip
    if cfg.engine == "int8":
        specs = [(1, 20, 6, 0.0, "int8", False), (3, 5, 6, 0.3, "int8", False), (7, 3, 5, 0.3, "int8", False)]
    if cfg.engine == "int8_sparse":
        specs = [(k, cin, cout, sp, "int8", False) for k, cin, cout, sp in specs_sp]
    layers = []
    for i, (k, cin, cout, sparsity, method, means) in enumerate(specs):
        g = random_conv_graph(cin, cout, 8, 8, kernel=k, stride=1, pad=k // 2, sparsity=sparsity, method=method,
                              seed=seed + i, in_signed=bool(i % 2))  # fmt: skip
        layer = _two_means(g.layers[0], rng) if means else g.layers[0]
        layer.weights[1] = 0  # an output channel without weights
        w = np.asarray(layer.weights, np.int64)
        lo, hi = (-128, 128) if i % 2 else (0, 256)
        patch = rng.integers(lo, hi, size=(cin, k, k, cfg.pixels))
        sums = np.einsum("oijk,ijkv->ov", w, patch)
        groups = [list(range(c, min(c + 3, cout))) for c in range(0, cout, 3)]
        if fq:
            coding = shift_coding(layer, cfg)
            chans = channel_entries_fq(layer, coding, cfg)
            exp = _fq_expected(layer, coding)
            assert [len(e) for e in exp] == [len(c) for c in chans]
            consts = [coding.q_shift, *coding.mu_shift, *coding.mu_sign]
            lanes = []
            for grp in groups:  # each lane's channels back to back, then two padding entries
                raw = [int(r) for c in grp for r in chans[c]] + [NOP_CODE] * 2
                recs = [r for c in grp for r in exp[c]] + [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]] * 2
                lanes.append(([[r, *rec] for r, rec in zip(raw, recs, strict=True)], [list(sums[c]) for c in grp]))
            kb = kpos_bits(k)

            def entry(step, ky, kx, exp_=0, kb=kb):
                return ((((step << (2 * kb)) | (ky << kb) | kx) << 8) | (SIGN_POS << 5)) | exp_

            emax = (1 << cfg.exp_bits) - 1
            chk = [(0, entry(0, 0, 0, emax), 1), (cin - 2, entry(1, 0, 0), 1), (cin - 1, entry(1, 0, 0), 0)]
            if emax + 1 < 32:  # an exponent the field holds but the shifter does not
                chk.append((0, entry(0, 0, 0, emax + 1), 0))
            if (1 << kb) > k:  # kernel positions the field holds but the layer does not
                chk += [(0, entry(0, k - 1, k - 1), 1), (0, entry(0, k, 0), 0), (0, entry(0, 0, k), 0)]
        elif cfg.engine == "int8_sparse":
            chans = channel_entries_int8_sparse(layer)
            exp = _int8_sparse_expected(layer)
            assert [len(e) for e in exp] == [len(c) for c in chans]
            consts = [0, 0, 0, 0, 0]
            lanes = []
            for grp in groups:  # each lane's channels back to back, then two padding entries (weight 0)
                raw = [int(r) for c in grp for r in chans[c]] + [0] * 2
                recs = [r for c in grp for r in exp[c]] + [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]] * 2
                lanes.append(([[r, *rec] for r, rec in zip(raw, recs, strict=True)], [list(sums[c]) for c in grp]))
            kb = kpos_bits(k)

            def entry8(step, ky, kx, w8=1, kb=kb):
                return (((step << (2 * kb)) | (ky << kb) | kx) << 8) | (w8 & 0xFF)

            chk = [(cin - 2, entry8(1, 0, 0, -128), 1), (cin - 1, entry8(1, 0, 0, 5), 0),
                   (cin - 1, entry8(1, 0, 0, 0), 1)]  # fmt: skip
            if (1 << kb) > k:
                chk += [(0, entry8(0, k - 1, k - 1), 1), (0, entry8(0, k, 0), 0), (0, entry8(0, 0, k), 0)]
        else:
            chans = channel_entries_int8(layer)
            kvol = w[0].size
            consts = [0, 0, 0, 0, 0]
            n_max = max(len(grp) for grp in groups) + 1  # every lane padded by at least one channel's worth
            lanes = []
            for grp in groups:
                n_pad = (n_max - len(grp)) * kvol
                exp, pad = _int8_expected(layer, n_pad)
                raw = [int(r) for c in grp for r in chans[c]] + [0] * n_pad
                recs = [r for c in grp for r in exp[c]] + pad
                lanes.append(([[r, *rec] for r, rec in zip(raw, recs, strict=True)], [list(sums[c]) for c in grp]))
            chk = []
        layers.append(dict(in_ch=cin, k=k, kb=kpos_bits(k), consts=consts, patch=patch, lanes=lanes, chk=chk))
    return layers


def _pe_text(engine: str, V: int, layers: list[dict]) -> str:
    out = [f"engine {engine} {V} {len(layers)}"]
    for ly in layers:
        out.append(f"layer {ly['in_ch']} {ly['k']} {ly['kb']} {' '.join(map(str, ly['consts']))} "
                   f"{len(ly['lanes'])} {len(ly['chk'])}")  # fmt: skip
        out.append(f"patch {ly['patch'].size} " + " ".join(map(str, ly["patch"].reshape(-1))))
        for recs, sums in ly["lanes"]:
            out.append(f"lane {len(recs)} {len(sums)}")
            out += [" ".join(map(str, r)) for r in recs]
            out += [" ".join(str(int(s)) for s in row) for row in sums]
        out += [f"chk {ci0} {raw} {want}" for ci0, raw, want in ly["chk"]]
    return "\n".join(out + ["end"]) + "\n"


@pytest.mark.parametrize("engine,pack", [("fq", True), ("int8", True), ("int8", False), ("int8_sparse", True)],
                         ids=["fq", "int8-packed", "int8-unpacked", "int8_sparse"])
def test_pe_decode_and_apply(builds, tmp_path, engine, pack):
    """Decode of real weight streams (FQ and int8_sparse: channel steps with escapes, kernel positions, empty
    channels, FQ signed-digit terms; int8: the dense walk, padding lanes included) against what every entry
    means, entries the decoder must refuse, and apply()/recombine of a lane's running accumulators = sum of
    weight * x (int8: two pixels per DSP multiplier on the synthesized path, and one)."""
    # lanes that multiply elsewhere: FQ's DSP-hosted shift, int8's LUT multipliers (tb_pe: the odd lanes)
    cfg = _cfg(engine, int8_pack=pack, dsp_lanes=2 if engine == "fq" else 0, lut_lanes=2 if engine == "int8" else 0)
    layers = _pe_layers(cfg)
    good = tmp_path / "pe.txt"
    good.write_text(_pe_text(engine, cfg.pixels, layers))
    n_entries = sum(len(recs) for ly in layers for recs, _ in ly["lanes"])
    if engine == "fq":  # the streams have what the test is about
        recs = {i: [r for rs, _ in ly["lanes"] for r in rs] for i, ly in enumerate(layers)}
        escapes = {layers[i]["k"] for i, rs in recs.items() if any(r[2] and (r[0] >> 8) & 0x7F for r in rs)}
        assert escapes == {1, 3, 7}, "escape entries at every kernel size"
        assert all(any(r[2] and r[3] for r in rs) for rs in recs.values()), "an empty channel"
        assert any(r[7] == 0 and not r[2] for rs in recs.values() for r in rs), "a weight that is its mean"
        assert any(ly["consts"][1] != ly["consts"][2] for ly in layers), "mean shifts d that differ"

    # wrong expectations: a decoded field, a sum
    field = "exp" if engine == "fq" else "w"
    bad_field = copy.deepcopy(layers)
    rec = next(r for r in bad_field[1]["lanes"][0][0] if not r[2])
    rec[8 if engine == "fq" else 10] += 1
    bad_sum = copy.deepcopy(layers)
    bad_sum[0]["lanes"][-1][1][0][1] += 1
    wrong = {}
    for name, ly in (("field", bad_field), ("sum", bad_sum)):
        wrong[name] = tmp_path / f"pe_{name}.txt"
        wrong[name].write_text(_pe_text(engine, cfg.pixels, ly))

    entry = bad_field[1]["lanes"][0][0].index(rec)
    for exe in builds.build("tb_pe", cfg).values():
        _passes(_run(exe, good), 3 * n_entries)
        r = _run(exe, wrong["field"])
        _fails(r, f"layer 1 lane 0 entry {entry} ")
        assert f" {field}: got" in r.stdout, r.stdout
        _fails(_run(exe, wrong["sum"]), "sum pixel: got")


@pytest.mark.parametrize("board", ["pynq-z2", "kv260"], ids=["dsp48e1", "dsp48e2"])
def test_packed_int8_multiplier(builds, board):
    """Two int8 x int9 products on one DSP multiplier (fq_pe.h mac2) = the plain products, on every weight
    against every activation with the extreme partners and on random triples; the packed operand fits the
    board's DSP A port (DSP48E1 25 bits, DSP48E2 27). Without the borrow correction it must fail."""
    cfg = hardware_config(board, "int8", lanes=4, pixels=4, axi_bits=64, max_nnz_per_lane=512)
    exe = builds.build("tb_mac2", cfg, ("hls",))["hls"]  # mac2 is on the synthesized path only
    _passes(_run(exe), 2 * 256 * 384 * 9 + 200000)
    r = _run(exe, 1)
    _fails(r, "FAIL w=")


# ------------------------------------------------------------------------------------------- load + fill
# op, in_ch, in_h, in_w, kernel, stride, pad, flat, signed, pad value, ci0, n_ch, overlapped fill
LOAD_CASES = [
    (1, 3, 7, 11, 3, 1, 1, 0, 0, 0, 0, 3, 1),  # row mode
    (1, 2, 9, 13, 3, 2, 1, 0, 1, 0, 0, 2, 1),  # stride 2: phase-split rows
    (1, 3, 8, 9, 1, 2, 0, 0, 0, 0, 0, 3, 0),  # 1x1 stride 2: the even phase and every other row only
    (1, 2, 11, 12, 7, 2, 3, 0, 0, 0, 0, 2, 1),  # 7x7 stride 2
    (1, 3, 5, 6, 3, 1, 1, 1, 1, 0, 0, 3, 0),  # flat map (URAM: load_flat, one run per channel)
    (1, 2, 6, 5, 3, 1, 1, 1, 0, 0, 0, 2, 0),  # flat run that ends inside a beat
    (1, 3, 6, 40, 3, 1, 0, 0, 0, 0, 0, 3, 1),  # rows of several beats, no padding
    (2, 5, 9, 9, 3, 2, 1, 0, 1, -512, 2, 3, 0),  # max pool's channel group 2..4, padded with its smallest value
    (2, 3, 8, 8, 2, 2, 0, 0, 0, -512, 0, 3, 0),  # 2x2 stride-2 pool
]


def _load_geoms(cfg: HardwareConfig, cases) -> list[list[int]]:
    """The Python geometry of every case, in the testbench's field order."""
    from fq_hls.hw.geometry import fill_bytes, geometry

    out = []
    for _, _, h, w, k, s, p, flat, *_ in cases:
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        g = geometry(w, oh, ow, k, s, p, cfg, flat=bool(flat))
        out.append([g.tiles, g.pitch, g.ring, g.rows, g.vw, g.q, g.half, g.phases, g.cstride, g.flen,
                    g.beats_per_row(fill_bytes(cfg))])  # fmt: skip
    return out


def _load_text(cfg: HardwareConfig, cases, geoms) -> str:
    from fq_hls.hw.geometry import fill_bytes

    lines = [f"config {cfg.pixels} {fill_bytes(cfg)} {len(cases)}"]
    for case, geom in zip(cases, geoms, strict=True):
        lines += ["layer " + " ".join(map(str, case)), "geom " + " ".join(map(str, geom))]
    return "\n".join(lines + ["end"]) + "\n"


@pytest.mark.parametrize(
    "engine,uram,overlap",
    [("fq", False, True), ("fq", True, False), ("int8", False, True)],
    ids=["fq-bram", "fq-uram-nooverlap", "int8-bram"],
)
def test_load_rows_fill_line_buffer(builds, tmp_path, engine, uram, overlap):
    """load_rows + absorb_rows (and fill_begin/fill_step beside the reads of the row before) leave the padded
    input map where every read of the compute stage finds it, per output row, for the Python geometry."""
    cfg = _cfg(engine, uram, fill_overlap=overlap)
    geoms = _load_geoms(cfg, LOAD_CASES)
    assert any(g[9] for g in geoms) == uram, "URAM: a flat map streamed as one run (load_flat)"
    good = tmp_path / "load.txt"
    good.write_text(_load_text(cfg, LOAD_CASES, geoms))
    wrong = copy.deepcopy(geoms)
    wrong[1][1] += 1  # a pitch other than the Python geometry's
    bad = tmp_path / "load_bad.txt"
    bad.write_text(_load_text(cfg, LOAD_CASES, wrong))
    for exe in builds.build("tb_load", cfg).values():
        _passes(_run(exe, good), 5_000)
        _fails(_run(exe, bad), "FAIL layer 1 pitch")
        _fails(_run(exe, good, "corrupt"), "row 0 channel 0 k(")


# ------------------------------------------------------------------------------------------- max pool
# a line buffer of 200 entries: the test maps' channels run in groups
POOL_WORDS = 200


@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_maxpool_layer(builds, engine):
    """maxpool_layer on small uint8 maps (3x3/2 padded, 2x2/2, 3x3/1, several tiles) in channel groups (FQ:
    P channels per window pass, int8: one) = the window maxima; nothing else in memory is written."""
    cfg = _cfg(engine, lb_words=POOL_WORDS)
    for exe in builds.build("tb_pool", cfg).values():
        out = _passes(_run(exe, "unsigned"), 600)
        assert int(re.search(r"grouped=(\d+)", out).group(1)) >= 2, out
        _fails(_run(exe, "unsigned", "corrupt"), "FAIL case 0 max at channel, pixel (0, 0)")


@pytest.mark.parametrize("path", ["fast", "hls"])
def test_maxpool_layer_signed(builds, path):
    """int8 maps, one channel all negative: a window's maximum below zero must come out as it is (the
    synthesized path once started from act_t(-512), which its 9-bit act_t wrapped to 0)."""
    exe = builds.build("tb_pool", _cfg("fq", lb_words=POOL_WORDS))[path]
    _passes(_run(exe, "signed"), 600)
