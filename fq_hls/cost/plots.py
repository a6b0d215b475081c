"""PNG plots of a report dict (fq_hls.cost.report.build_report); matplotlib with the Agg backend."""

from __future__ import annotations

from pathlib import Path

ENGINES = (("fq", "FQ (model)"), ("int8", "8-bit (model)"))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(rep: dict, outdir: Path) -> list[Path]:
    plt = _plt()
    boards = list(rep["boards"])
    files = []

    # 1. utilisation per board
    fields = ("lut", "ff", "dsp", "bram36", "uram")
    fig, axes = plt.subplots(1, len(boards), figsize=(4 * len(boards), 3.5), squeeze=False)
    for ax, b in zip(axes[0], boards, strict=True):
        e = rep["boards"][b]
        for k, (engine, label) in enumerate(ENGINES):
            u = (e.get(engine) or {}).get("utilisation") or {}
            vals = [100 * (u.get(f) or 0) for f in fields]
            ax.bar([i + 0.4 * k for i in range(len(fields))], vals, 0.4, label=label)
        ax.set_xticks([i + 0.2 for i in range(len(fields))], [f.upper() for f in fields], fontsize=8)
        ax.axhline(80, color="grey", lw=0.8, ls="--")
        ax.set_title(b)
        ax.set_ylabel("% of device (model)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    files.append(_save(fig, outdir / "resources.png", plt))

    # 2. fps per board
    fig, ax = plt.subplots(figsize=(1.8 * len(boards) + 3, 3.5))
    series = [("fq", "FQ (model)"), ("int8", "8-bit engine (model)"), ("published", "DPU 8-bit (published)")]
    for k, (key, label) in enumerate(series):
        vals = [((rep["boards"][b].get(key) or {}).get("fps_resnet18") or 0) for b in boards]
        ax.bar([i + 0.27 * k for i in range(len(boards))], vals, 0.27, label=label)
    ax.set_xticks([i + 0.27 for i in range(len(boards))], boards)
    ax.set_ylabel("ResNet-18 224x224 frames/s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.append(_save(fig, outdir / "fps.png", plt))

    # 3. per-layer cycles (ResNet-18) per board
    fig, axes = plt.subplots(len(boards), 1, figsize=(10, 2.6 * len(boards)), squeeze=False)
    for ax, b in zip(axes[:, 0], boards, strict=True):
        e = rep["boards"][b]
        names = None
        for k, (engine, label) in enumerate(ENGINES):
            c = ((e.get(engine) or {}).get("cycles") or {}).get(rep.get("sizing_network", "resnet18"))
            if not c:
                continue
            names = c["layers"]
            ax.bar([i + 0.4 * k for i in range(len(names))], c["cycles"], 0.4, label=label)
        if names:
            ax.set_xticks([i + 0.2 for i in range(len(names))], names, rotation=70, fontsize=6)
        ax.set_yscale("log")
        ax.set_ylabel("cycles")
        ax.set_title(f"{b}: per-layer cycles, {rep.get('sizing_network')} (model)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    files.append(_save(fig, outdir / "layer_cycles.png", plt))

    # 4. roofline per board
    fig, axes = plt.subplots(1, len(boards), figsize=(4 * len(boards), 3.6), squeeze=False)
    for ax, b in zip(axes[0], boards, strict=True):
        rl = rep["boards"][b].get("roofline") or {}
        bw = rl.get("ddr_gbps", 0)
        xs = [0.1 * 1.2**i for i in range(64)]
        for engine, label in ENGINES:
            d = rl.get(engine)
            if not d:
                continue
            peak = d["peak_gops"]
            ax.plot(xs, [min(peak, bw * x) for x in xs], lw=1)
            ax.axhline(peak, lw=0.8, ls=":", color="grey")
            ax.scatter([p["intensity"] for p in d["layers"]], [p["gops"] for p in d["layers"]], s=10,
                       label=f"{label}: {d['ops']}")
        ax.plot(xs, [bw * v for v in xs], color="black", lw=0.6, label=f"DDR {bw} GB/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ops / DDR byte")
        ax.set_ylabel("GOP/s")
        ax.set_title(f"{b} roofline (model)", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    files.append(_save(fig, outdir / "roofline.png", plt))
    return files


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
