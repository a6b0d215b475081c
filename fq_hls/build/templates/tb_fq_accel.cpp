// Testbench of the fq_accel IP for Vitis HLS C-simulation (csim_design) and C/RTL co-simulation
// (cosim_design). Written by fq-hls (fq_hls/build/testbench.py); data-driven, so the same file serves every
// board and engine. argv[1] is a folder holding the program image of a small test network, made by
// fq_hls.hw.program from an integer graph, and the reference executor's output for it:
//
//   weights.bin   uint8 weight streams          desc.bin      uint32 descriptors (little-endian)
//   act.bin       activation memory, input in   expected.bin  bytes of the output tensor (reference)
//   meta.txt      "<n_layers> <output_offset> <output_bytes>"
//
// The driver's calling convention is kept: one buffer is both act_in and act_out. Co-simulation copies
// `depth` elements of each m_axi argument into its memory model, so every buffer holds at least the depth of
// its pragma in fq_accel.cpp: FQ_DEPTH_WEIGHTS / FQ_DEPTH_ACT bytes, FQ_DEPTH_DESC words. The Vitis HLS
// project passes them with -D (fq_hls.build.hls_project, from the sizes of this data); a data file larger
// than its depth is refused (exit 2), as co-simulation would drop the elements beyond it.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

void fq_accel(const uint8_t* weights, const uint8_t* act_in, uint8_t* act_out, const uint32_t* desc,
              uint32_t n_layers, const uint8_t* act_in2);

#include "fq_depths.h"  // the m_axi depths the top declares

namespace {

// read `path` into `out`, zero-padded to exactly `depth` bytes; a larger file is an error (0: no depth)
bool read_file(const std::string& path, std::vector<uint8_t>& out, size_t depth) {
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) {
        fprintf(stderr, "tb_fq_accel: cannot open %s\n", path.c_str());
        return false;
    }
    out.clear();
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.insert(out.end(), buf, buf + n);
    fclose(f);
    if (depth && out.size() > depth) {
        fprintf(stderr, "tb_fq_accel: %s has %zu bytes, more than the m_axi depth (%zu bytes)\n", path.c_str(),
                out.size(), depth);
        return false;
    }
    if (out.size() < depth) out.resize(depth, 0);
    out.shrink_to_fit();  // exactly the depth: a sanitizer build sees any access beyond it
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : "tb_data";
    std::vector<uint8_t> weights, act, desc_bytes, expected;
    if (!read_file(dir + "/weights.bin", weights, FQ_DEPTH_WEIGHTS) ||
        !read_file(dir + "/act.bin", act, FQ_DEPTH_ACT) ||
        !read_file(dir + "/desc.bin", desc_bytes, size_t(FQ_DEPTH_DESC) * 4) ||
        !read_file(dir + "/expected.bin", expected, 0)) {
        return 2;
    }
    unsigned n_layers = 0, out_offset = 0, out_bytes = 0;
    FILE* meta = fopen((dir + "/meta.txt").c_str(), "r");
    if (!meta || fscanf(meta, "%u %u %u", &n_layers, &out_offset, &out_bytes) != 3) {
        fprintf(stderr, "tb_fq_accel: %s/meta.txt missing or malformed\n", dir.c_str());
        if (meta) fclose(meta);
        return 2;
    }
    fclose(meta);
    if (out_bytes != expected.size() || size_t(out_offset) + out_bytes > act.size()) {
        fprintf(stderr, "tb_fq_accel: output window %u+%u does not fit (expected.bin %zu bytes, act %zu)\n",
                out_offset, out_bytes, expected.size(), act.size());
        return 2;
    }
    std::vector<uint32_t> desc(desc_bytes.size() / 4);  // FQ_DEPTH_DESC words
    for (size_t i = 0; i < desc.size(); i++) {
        desc[i] = uint32_t(desc_bytes[4 * i]) | uint32_t(desc_bytes[4 * i + 1]) << 8 |
                  uint32_t(desc_bytes[4 * i + 2]) << 16 | uint32_t(desc_bytes[4 * i + 3]) << 24;
    }

    fq_accel(weights.data(), act.data(), act.data(), desc.data(), n_layers, act.data());

    size_t mismatches = 0, first = 0;
    for (size_t i = 0; i < out_bytes; i++) {
        if (act[out_offset + i] != expected[i]) {
            if (mismatches == 0) first = i;
            mismatches++;
        }
    }
    if (mismatches) {
        fprintf(stderr, "tb_fq_accel: FAIL: %zu of %u output bytes differ from the reference (first at %zu: %u != %u)\n",
                mismatches, out_bytes, first, unsigned(act[out_offset + first]), unsigned(expected[first]));
        return 1;
    }
    printf("tb_fq_accel: PASS: %u layer(s), %u output bytes bit-exact with the reference\n", n_layers, out_bytes);
    return 0;
}
