"""Published reference figures (evidence label "published") that the report prints beside its modelled engines.

Every anchor names its document, version and table. fps figures are vendor measurements on a board of a
dense 8-bit ResNet-18 224x224 (3.65 GOPs per frame); this project's fps are modelled on a sparse workload, so
a ratio between the two is always printed as "model / published" (docs/cost_model.md "Anchors").
"""

from __future__ import annotations

# Vitis AI DPU (DPUCZDX8G) core resources, "high DSP usage" (PG338 v1.2, Table 9 "Resources of Different DSP
# Usage"; measured on ZCU102 without depthwise conv, average pool, ReLU6 and leaky ReLU)
PG338 = "Xilinx PG338 DPU IP Product Guide v1.2 (2019-03-26), Table 9 'Resources of Different DSP Usage', high DSP usage"
DPU_CORES = {
    "B4096": {"lut": 40865, "ff": 92630, "bram36": 249.5, "dsp": 642},
    "B1600": {"lut": 30877, "ff": 56267, "bram36": 123, "dsp": 282},
}

ANCHORS: dict[str, list[dict]] = {
    "zcu104": [
        {"design": "Vitis AI DPU 2 x B4096 @ 300 MHz (8-bit), cf_resnet18 224x224 3.65 GOPs",
         "network": "resnet18", "fps": 409.7, "fps_single_thread": 189.7, "clock_mhz": 300.0,
         "cores": 2, "core": "B4096",
         "source": "Xilinx AI Model Zoo README, Vitis AI 1.3 (measured with Vitis AI / Vitis AI Library 1.3), "
                   "'Performance on ZCU104' (2 x B4096 @ 300 MHz V1.4.1), row 2 resnet18; resources: " + PG338},
        {"design": "Vitis AI DPU 2 x B4096 @ 300 MHz (8-bit), chen_color_resnet18_pt 224x224 3.627 GOPs",
         "network": "resnet18", "fps": 437.1, "fps_single_thread": 217.7, "clock_mhz": 300.0,
         "cores": 2, "core": "B4096",
         "source": "Xilinx UG1354 Vitis AI Library User Guide v2.5, 'ZCU104 Evaluation Board' performance table, "
                   "row 4 (a ResNet-18 vehicle-colour classifier)"},
    ],
    "ultra96v2": [
        {"design": "Vitis AI DPU 1 x B1600 @ 287 MHz (8-bit), cf_resnet18 224x224 3.65 GOPs (Ultra96 v1)",
         "network": "resnet18", "fps": 77.8, "fps_single_thread": 74.2, "clock_mhz": 287.0,
         "cores": 1, "core": "B1600",
         "source": "Xilinx AI Model Zoo README, Vitis AI 1.0 (Nov 2019), 'Performance on Ultra96' (measured with "
                   "AI SDK v2.0.4 on Ultra96 v1, 1 x B1600 @ 287 MHz V1.4.0), row 36 resnet18 (77.8167 / 74.2167); "
                   "resources: " + PG338},
    ],
    "kv260": [
        {"design": "Vitis AI DPU 1 x B3136 in the KV260 Smart Camera overlay (8-bit); no ResNet-18 fps found",
         "network": None, "fps": None, "clock_mhz": 300.0, "cores": 1,
         "resources": {"lut": 45433, "bram36": 67, "dsp": 548, "uram": 44},
         "source": "Kria KV260 Smart Camera tutorial 2022.1, 'Hardware Architecture of the Accelerator', table "
                   "'Resource Usage of the Current Design', row DPU B3136 (no ResNet-18 fps is published there; "
                   "the stored Vitis AI Model Zoo tables for KV260 were not found)"},
    ],
    "pynq-z2": [
        {"design": "hls4ml RN07 CIFAR-10 ResNet, 8-bit weights (not ResNet-18)", "network": "small CIFAR ResNet",
         "fps": 130.8, "clock_mhz": None, "cores": 1,
         "source": "MLPerf Tiny v0.7 results, hls4ml on PYNQ-Z2 (as quoted in the project's DESIGN.md; not "
                   "re-checked against the results table in this session)"},
    ],
}


def board_anchors(board: str) -> list[dict]:
    """The anchors of `board`, each with its resources (per core x cores, or as published) and evidence."""
    out = []
    for a in ANCHORS.get(board, []):
        d = dict(a)
        if "core" in a:
            d["resources"] = {k: v * a["cores"] for k, v in DPU_CORES[a["core"]].items()}
        d["evidence"] = "published"
        out.append(d)
    return out


def headline(board: str) -> dict | None:
    """The ResNet-18 224 anchor of `board` that targets compare against (the first with an fps), or None."""
    for a in board_anchors(board):
        if a.get("network") == "resnet18" and a.get("fps"):
            return a
    return None
