"""Canonical, length-limited Huffman coding in numpy.

A code is described only by its code lengths (one per symbol, 0 = symbol unused); the canonical code
assigns codes in order of (length, symbol). Bits are packed MSB first. Encoding is vectorised; decoding
computes the code length at every bit position with one vectorised table search, follows the chain of code
starts through a pointer-doubled jump table (one Python step per 16 codes), then maps all starts to symbols.
"""

from __future__ import annotations

import heapq

import numpy as np

MAX_LEN = 24  # longest code; 24 + 7 bits fit the 32-bit window the decoder reads
_SEGMENT_BITS = 1 << 16  # bit positions per decoder segment: its jump table stays in cache
_ENCODE_CHUNK = 1 << 20  # symbols per vectorised packing chunk
_JUMP = 16  # codes per step of the decoder's jump table (a power of two)
_TABLE_BITS = 16  # codes up to this long are decoded through a direct 2^L lookup table
_BIT = np.arange(8, dtype=np.int64)


class HuffmanError(ValueError):
    """The code table or a stream is invalid; the container adds file/section context."""


def code_lengths(freq: np.ndarray, max_len: int = MAX_LEN) -> np.ndarray:
    """Huffman code lengths (uint8) for symbol frequencies, no code longer than `max_len`.

    Unused symbols get length 0; a single used symbol gets length 1 (so every symbol costs >= 1 bit and a
    decoder can bound its work by the stream length); an empty alphabet gives all zeros.
    """
    freq = np.asarray(freq, dtype=np.int64)
    if freq.ndim != 1 or (freq < 0).any():
        raise ValueError("frequencies must be a 1-D array of non-negative counts")
    if not 1 <= max_len <= MAX_LEN:
        raise ValueError(f"max_len must be in 1..{MAX_LEN}")
    out = np.zeros(freq.size, dtype=np.uint8)
    used = np.flatnonzero(freq)
    if used.size == 0:
        return out
    if used.size == 1:
        out[used[0]] = 1
        return out
    if used.size > (1 << max_len):
        raise ValueError(f"{used.size} symbols cannot be coded in at most {max_len} bits")
    n = used.size
    # Heap of (weight, node id); ids break ties deterministically. Leaves 0..n-1, internal nodes after.
    heap = [(int(f), i) for i, f in enumerate(freq[used].tolist())]
    heapq.heapify(heap)
    parent = [0] * (2 * n - 1)
    nxt = n
    while len(heap) > 1:
        w1, a = heapq.heappop(heap)
        w2, b = heapq.heappop(heap)
        parent[a] = parent[b] = nxt
        heapq.heappush(heap, (w1 + w2, nxt))
        nxt += 1
    depth = [0] * (2 * n - 1)
    for node in range(2 * n - 3, -1, -1):  # parents are created after children: walk top-down
        depth[node] = depth[parent[node]] + 1
    lengths = np.array(depth[:n], dtype=np.int64)
    if lengths.max() > max_len:
        lengths = _limit(lengths, freq[used], max_len)
    out[used] = lengths
    return out


def _limit(lengths: np.ndarray, freq: np.ndarray, max_len: int) -> np.ndarray:
    """Clamp lengths to max_len, then restore the Kraft inequality by lengthening the rarest of the
    longest codes below the limit, then give back any slack to the most frequent symbols."""
    lengths = np.minimum(lengths, max_len)
    budget = 1 << max_len
    kraft = int(np.sum(np.left_shift(1, max_len - lengths)))
    order = np.lexsort((-np.arange(freq.size), freq))  # rarest first
    while kraft > budget:
        cand = order[lengths[order] < max_len]
        i = cand[np.argmax(lengths[cand])]  # longest below the limit, rarest among them
        kraft -= 1 << (max_len - int(lengths[i]) - 1)
        lengths[i] += 1
    for i in order[::-1]:  # most frequent first: shorten while the code stays prefix-free
        while lengths[i] > 1 and kraft + (1 << (max_len - int(lengths[i]))) <= budget:
            kraft += 1 << (max_len - int(lengths[i]))
            lengths[i] -= 1
    return lengths


def check_lengths(lengths: np.ndarray) -> None:
    """Raise HuffmanError unless `lengths` describes a prefix code (Kraft sum <= 1, lengths <= MAX_LEN)."""
    lengths = np.asarray(lengths)
    if lengths.size and int(lengths.max()) > MAX_LEN:
        raise HuffmanError(f"code length {int(lengths.max())} exceeds the maximum {MAX_LEN}")
    used = lengths[lengths > 0].astype(np.int64)
    if used.size and int(np.sum(np.left_shift(1, MAX_LEN - used))) > (1 << MAX_LEN):
        raise HuffmanError("code lengths are over-subscribed (Kraft sum > 1): not a prefix code")


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code (uint32, MSB-first value of `lengths[s]` bits) per symbol; 0 for unused symbols."""
    lengths = np.asarray(lengths, dtype=np.int64)
    check_lengths(lengths)
    codes = np.zeros(lengths.size, dtype=np.uint32)
    order = np.lexsort((np.arange(lengths.size), lengths))
    order = order[lengths[order] > 0]
    code = 0
    prev = 0
    for s in order.tolist():
        ln = int(lengths[s])
        code <<= ln - prev
        codes[s] = code
        code += 1
        prev = ln
    return codes


def encoded_bits(freq: np.ndarray, lengths: np.ndarray) -> int:
    """Exact number of bits the stream of a histogram takes under `lengths`."""
    return int(np.dot(np.asarray(freq, dtype=np.int64), np.asarray(lengths, dtype=np.int64)))


def pack_bits(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Concatenate `values[i]` written MSB first in `widths[i]` bits (0..32); pad the last byte with zeros.

    Every field lands in at most two consecutive 32-bit big-endian words; fields never overlap, so the
    words are sums of disjoint bit fields (exact in float64, which np.bincount accumulates in).
    """
    values = np.asarray(values, dtype=np.uint64).ravel()
    widths = np.asarray(widths, dtype=np.int64).ravel()
    if (widths < 0).any() or (widths > 32).any():
        raise ValueError("field widths must be in 0..32")
    ends = np.cumsum(widths)
    total = int(ends[-1]) if ends.size else 0
    if total == 0:
        return b""
    nwords = (total + 31) // 32 + 1
    words = np.zeros(nwords, dtype=np.uint64)
    for start in range(0, values.size, _ENCODE_CHUNK):
        w = widths[start : start + _ENCODE_CHUNK]
        keep = w > 0
        w = w[keep].astype(np.uint64)
        v = values[start : start + _ENCODE_CHUNK][keep] & ((np.uint64(1) << w) - np.uint64(1))
        s = (ends[start : start + _ENCODE_CHUNK][keep] - w.astype(np.int64)).astype(np.uint64)
        word = (s >> np.uint64(5)).astype(np.int64)
        placed = v << (np.uint64(64) - (s & np.uint64(31)) - w)  # field inside a 64-bit big-endian window
        hi = (placed >> np.uint64(32)).astype(np.float64)
        lo = (placed & np.uint64(0xFFFFFFFF)).astype(np.float64)
        words += np.bincount(word, weights=hi, minlength=nwords).astype(np.uint64)
        words += np.bincount(word + 1, weights=lo, minlength=nwords).astype(np.uint64)
    return words.astype(">u4").tobytes()[: (total + 7) // 8]


def encode(symbols: np.ndarray, lengths: np.ndarray) -> bytes:
    """Huffman-encode `symbols` (indices into `lengths`) into bytes."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    lengths = np.asarray(lengths, dtype=np.int64)
    if symbols.size == 0:
        return b""
    if symbols.min() < 0 or symbols.max() >= lengths.size or (lengths[symbols] == 0).any():
        raise ValueError("a symbol to encode has no code")
    codes = canonical_codes(lengths)
    return pack_bits(codes[symbols], lengths[symbols])


def _byte_words(data: bytes) -> np.ndarray:
    """word[i] = the 32 bits starting at byte i (big-endian, zero-padded), int64."""
    b = np.concatenate([np.frombuffer(data, dtype=np.uint8), np.zeros(4, dtype=np.uint8)]).astype(np.int64)
    return (b[:-3] << 24) | (b[1:-2] << 16) | (b[2:-1] << 8) | b[3:]


def _windows(words: np.ndarray, positions: np.ndarray, width: int) -> np.ndarray:
    """`width` (<= 25) bits starting at each bit position (int64)."""
    return ((words[positions >> 3] << (positions & 7)) & 0xFFFFFFFF) >> (32 - width)


def _segment_lengths(words: np.ndarray, table: np.ndarray | None, limit: np.ndarray, L: int, p: int,
                     seg_end: int) -> np.ndarray:
    """Code length at every bit position p..seg_end-1 (L + 1 = unassigned pattern), int64."""
    b0 = p >> 3
    w = words[b0 : (seg_end + 7) >> 3]
    win = (((w[:, None] << _BIT) & 0xFFFFFFFF) >> (32 - L)).ravel()[p - 8 * b0 : seg_end - 8 * b0]
    if table is not None:
        return table[win].astype(np.int64)
    return np.searchsorted(limit, win, side="right") + 1


def _chain(words: np.ndarray, table: np.ndarray | None, limit: np.ndarray, L: int, p: int, seg_end: int,
           need: int) -> tuple[np.ndarray, int]:
    """Start positions of up to `need` consecutive codes from bit p while they start before seg_end.

    Returns (starts, next position). An invalid code ends `starts` with -(its position) - 1. The chain is
    followed _JUMP codes at a time through a jump table built by pointer doubling, so the Python loop runs
    count / _JUMP times; the codes in between are recovered with _JUMP vectorised gathers.
    """
    n = seg_end - p
    ln = _segment_lengths(words, table, limit, L, p, seg_end)
    out, bad = n, n + 1  # absorbing states: left the segment / invalid code
    nxt = np.empty(n + 2, dtype=np.int32)  # segments are < 2^31 bits
    nxt[:n] = np.minimum(np.arange(n) + ln, out)
    nxt[:n][ln > L] = bad
    nxt[n:] = (out, bad)
    jump = nxt
    for _ in range(_JUMP.bit_length() - 1):
        jump = jump[jump]
    q, blocks = 0, []
    item = jump.item
    while need >= _JUMP:
        nq = item(q)
        if nq >= n:  # some of the next _JUMP codes leave the segment or are invalid
            break
        blocks.append(q)
        q = nq
        need -= _JUMP
    rows = [np.array(blocks, dtype=np.int64)]
    for _ in range(_JUMP - 1):
        rows.append(nxt[rows[-1]].astype(np.int64))
    tail = []
    while q < n and need:  # at most ~_JUMP single steps remain
        step = ln.item(q)
        if step > L:
            tail.append(-(p + q) - 1)
            break
        tail.append(p + q)
        q += step
        need -= 1
    return np.concatenate([np.stack(rows, axis=1).ravel() + p, np.array(tail, dtype=np.int64)]), p + q


def decode(data: bytes, lengths: np.ndarray, count: int) -> np.ndarray:
    """Decode exactly `count` symbols (int64) from `data`.

    Raises HuffmanError when the table is not a prefix code, the stream holds an unassigned bit pattern,
    ends early, or has bytes / non-zero padding left over after `count` symbols.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    check_lengths(lengths)
    nbits = 8 * len(data)
    if count < 0:
        raise HuffmanError(f"negative symbol count {count}")
    if count == 0:
        if data:
            raise HuffmanError(f"{len(data)} stray bytes after 0 symbols")
        return np.zeros(0, dtype=np.int64)
    if count > nbits:  # every code is >= 1 bit
        raise HuffmanError(f"{count} symbols cannot fit in {len(data)} bytes")
    if not (lengths > 0).any():
        raise HuffmanError(f"{count} symbols declared but the code table is empty")
    L = int(lengths.max())
    order = np.lexsort((np.arange(lengths.size), lengths))
    order = order[lengths[order] > 0]
    bl_count = np.bincount(lengths[lengths > 0], minlength=L + 1)[: L + 1]
    first_code = np.zeros(L + 2, dtype=np.int64)
    first_index = np.zeros(L + 2, dtype=np.int64)
    for ln in range(1, L + 1):
        first_code[ln + 1] = (first_code[ln] + bl_count[ln]) << 1
        first_index[ln + 1] = first_index[ln] + bl_count[ln]
    # limit[l-1]: windows below it start with a code of length <= l (monotone in l for canonical codes)
    limit = np.array([(first_code[ln] + bl_count[ln]) << (L - ln) for ln in range(1, L + 1)], dtype=np.int64)
    words = _byte_words(data)
    table = None
    if L <= _TABLE_BITS:  # direct lookup: window value -> code length
        table = (np.searchsorted(limit, np.arange(1 << L), side="right") + 1).astype(np.uint8)

    found: list[np.ndarray] = []  # code start positions, in order
    done = 0
    p = 0
    while done < count:
        if p >= nbits:
            raise HuffmanError(f"stream ends after {done} of {count} symbols")
        seg_end = min(p + _SEGMENT_BITS, nbits)
        starts, p = _chain(words, table, limit, L, p, seg_end, count - done)
        if starts.size and starts[-1] < 0:
            raise HuffmanError(f"invalid code at bit {-starts[-1] - 1} (symbol {done + starts.size} of {count})")
        found.append(starts)
        done += starts.size
    if p > nbits:
        raise HuffmanError(f"last code runs {p - nbits} bits past the end of the stream")
    if (p + 7) // 8 != len(data):
        raise HuffmanError(f"{len(data) - (p + 7) // 8} stray bytes after {count} symbols")
    if p % 8 and int(data[p >> 3]) & (0xFF >> (p % 8)):
        raise HuffmanError("non-zero padding bits after the last code")
    pos = np.concatenate(found)
    win = _windows(words, pos, L)
    ln = np.searchsorted(limit, win, side="right") + 1
    idx = first_index[ln] + (win >> (L - ln)) - first_code[ln]
    return order[idx].astype(np.int64)
