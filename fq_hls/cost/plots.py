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
    files = []

    # 1. utilisation per board, 2. fps per board (fq_hls.cost.plots: bar plots with value labels)
    files.append(resources_plot(rep, outdir, plt))
    files.append(fps_plot(rep, outdir, plt))

    # 3. per-layer cycles and non-zero utilisation, 4. roofline (per board)
    files.append(layer_plot(rep, outdir, plt))
    files.append(roofline_plot(rep, outdir, plt))
    if rep.get("sweep"):
        files.append(sweep_plot(rep, outdir, plt))
    return files


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ bar plots with value labels, the sweep

BAR_ENGINES = (("fq", "FQ"), ("int8", "8-bit dense"), ("int8_sparse", "8-bit sparse"))


def _engines(rep: dict) -> list[tuple[str, str]]:
    present = set(rep.get("engines") or [e for e, _ in BAR_ENGINES[:2]])
    return [(e, label) for e, label in BAR_ENGINES if e in present]


def _labels(ax, bars, texts: list[str]) -> None:
    for bar, text in zip(bars, texts, strict=True):
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=6, rotation=90, xytext=(0, 2), textcoords="offset points")


def resources_plot(rep: dict, outdir: Path, plt) -> Path:
    """Percent of each device resource per engine and board (model); URAM reads n/a on boards without it."""
    boards = list(rep["boards"])
    engines = _engines(rep)
    fields = ("lut", "ff", "dsp", "bram36", "uram")
    w = 0.8 / len(engines)
    fig, axes = plt.subplots(1, len(boards), figsize=(4.6 * len(boards), 3.8), squeeze=False)
    for ax, b in zip(axes[0], boards, strict=True):
        e = rep["boards"][b]
        has_uram = bool(e.get("available", {}).get("uram"))
        for k, (engine, label) in enumerate(engines):
            u = (e.get(engine) or {}).get("utilisation") or {}
            vals = [100 * (u.get(f) or 0) if (f != "uram" or has_uram) else 0 for f in fields]
            bars = ax.bar([i + w * k for i in range(len(fields))], vals, w, label=f"{label} (model)")
            texts = [("n/a" if f == "uram" and not has_uram else
                      ("-" if u.get(f) is None else f"{v:.0f}")) for f, v in zip(fields, vals, strict=True)]
            _labels(ax, bars, texts)
        ax.set_xticks([i + w * (len(engines) - 1) / 2 for i in range(len(fields))],
                      [f.upper() + ("" if f != "uram" or has_uram else "\n(n/a)") for f in fields], fontsize=7)
        ax.axhline(80, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 125)
        ax.set_title(b, fontsize=9)
        ax.set_ylabel("% of device (model)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, outdir / "resources.png", plt)


def fps_plot(rep: dict, outdir: Path, plt) -> Path:
    """fps per board and engine on the sizing network's workload (model), beside the published DPU."""
    boards = list(rep["boards"])
    net = rep.get("sizing_network", "resnet18")
    key = "fps_" + net.replace("-", "_")
    series = [(e, f"{label} (model)") for e, label in _engines(rep)] + [("published", "DPU 8-bit (published)")]
    w = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(2.2 * len(boards) + 3, 4.0))
    for k, (engine, label) in enumerate(series):
        vals = []
        for b in boards:
            e = rep["boards"][b]
            if engine == "published":
                pub = [a for a in (e.get("published") or []) if a.get("network") == net and a.get("fps")]
                vals.append(pub[0]["fps"] if pub else 0)
            else:
                vals.append((e.get(engine) or {}).get(key) or 0)
        bars = ax.bar([i + w * k for i in range(len(boards))], vals, w, label=label)
        _labels(ax, bars, [f"{v:.0f}" if v else "n/a" for v in vals])
    ax.set_xticks([i + w * (len(series) - 1) / 2 for i in range(len(boards))], boards)
    ax.set_ylabel(f"{net} frames/s")
    import textwrap

    desc = (rep.get("networks", {}).get(net) or {}).get("source", "").split(";")[0]  # the workload, named
    ax.set_title("\n".join(textwrap.wrap(f"workload {net}: {desc}", 140)[:2]), fontsize=7)
    ax.margins(y=0.15)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, outdir / "fps.png", plt)


def sweep_plot(rep: dict, outdir: Path, plt) -> Path:
    """fps against weight sparsity per board and engine (random uniform masks, model) with the published DPU
    as a horizontal line: where the lines cross is the sparsity at which an engine overtakes another."""
    sw = rep["sweep"]
    boards = list(sw["fps"])
    xs = [100 * s for s in sw["sparsities"]]
    labels = dict(BAR_ENGINES)
    fig, axes = plt.subplots(1, len(boards), figsize=(4.2 * len(boards), 3.6), squeeze=False)
    for ax, b in zip(axes[0], boards, strict=True):
        for engine, vals in sw["fps"][b].items():
            ax.plot(xs, vals, marker="o", ms=3, label=f"{labels.get(engine, engine)} (model)")
        p = sw["published"].get(b)
        if p:
            ax.axhline(p["fps"], color="black", ls="--", lw=0.8, label=f"DPU {p['fps']:g} fps (published)")
        head = (rep.get("networks", {}).get(sw["network"]) or {}).get("fq_sparsity")
        if head:  # where the headline (trained-weight) workload sits on this axis
            ax.axvline(100 * head, color="grey", ls=":", lw=0.8, label=f"headline workload {100 * head:.2f} %")
        ax.set_xlabel("weight sparsity, % (random uniform masks)")
        ax.set_ylabel(f"{sw['network']} fps")
        ax.set_yscale("log")
        ax.set_title(b, fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, outdir / "sweep.png", plt)


# ------------------------------------------------------------------ per-layer cycles and utilisation, roofline


def _layer_utilisation(d: dict, net: str) -> dict[str, float]:
    """{layer: non-zero utilisation} of one engine entry: `layer_utilisation[net]` as
    fq_hls.hw.utilisation.layer_utilisation gives it (a list of dicts), or a {layer: value} mapping."""
    u = (d.get("layer_utilisation") or {}).get(net)
    if isinstance(u, list):
        return {r["layer"]: r["utilisation"] for r in u}
    return dict(u or {})


def layer_plot(rep: dict, outdir: Path, plt) -> Path:
    """Per board: each engine's modelled cycles per layer (bars, log scale) and, on the right axis, each
    engine's non-zero utilisation (non-zero MACs per cycle / (P x V)) with the 60 % target line."""
    boards = list(rep["boards"])
    net = rep.get("sizing_network", "resnet18")
    engines = _engines(rep)
    w = 0.8 / max(1, len(engines))
    fig, axes = plt.subplots(len(boards), 1, figsize=(11, 2.8 * len(boards)), squeeze=False)
    for ax, b in zip(axes[:, 0], boards, strict=True):
        e = rep["boards"][b]
        names: list[str] = []
        ax2 = None
        for k, (engine, label) in enumerate(engines):
            d = e.get(engine) or {}
            c = (d.get("cycles") or {}).get(net)
            if not c:
                continue
            names = names or list(c["layers"])
            pos = {n: i for i, n in enumerate(names)}
            ax.bar([pos[n] + w * k for n in c["layers"] if n in pos],
                   [v for n, v in zip(c["layers"], c["cycles"], strict=True) if n in pos], w,
                   label=f"{label}: cycles (model)")
            u = _layer_utilisation(d, net)
            if u:
                ax2 = ax2 or ax.twinx()
                xs = [pos[n] + w * k for n in u if n in pos]
                ax2.plot(xs, [100 * u[n] for n in u if n in pos], marker="o", ms=3, lw=0.8,
                         label=f"{label}: non-zero utilisation")
        if names:
            ax.set_xticks([i + 0.4 - w / 2 for i in range(len(names))], names, rotation=70, fontsize=6)
        ax.set_yscale("log")
        ax.set_ylabel("cycles per layer")
        if ax2 is not None:
            ax2.axhline(60, color="grey", lw=0.8, ls="--")
            ax2.set_ylim(0, 105)
            ax2.set_ylabel("% non-zero MACs / (P x V) per cycle", fontsize=7)
            ax2.legend(fontsize=6, loc="upper right")
        ax.set_title(f"{b}: per-layer cycles and non-zero utilisation, {net} (model)", fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return _save(fig, outdir / "layer_cycles.png", plt)


def roofline_plot(rep: dict, outdir: Path, plt) -> Path:
    """Per board: the sustainable-DDR roof and each engine's compute roof, and one point per conv/fc layer.
    x: the engine's ops (2 x non-zero-weight MACs on sparse engines, 2 x dense MACs on int8) per byte the
    engine moves to or from DDR for that layer (fq_hls.hw.ddr); y: the same ops per modelled second."""
    boards = list(rep["boards"])
    fig, axes = plt.subplots(1, len(boards), figsize=(4.2 * len(boards), 3.8), squeeze=False)
    for ax, b in zip(axes[0], boards, strict=True):
        rl = rep["boards"][b].get("roofline") or {}
        bw = rl.get("ddr_gbps", 0)
        pts = [p for engine, _ in _engines(rep) for p in (rl.get(engine) or {}).get("layers", [])]
        lo = min([p["intensity"] for p in pts] + [1.0]) / 2
        hi = max([p["intensity"] for p in pts] + [10.0]) * 2
        xs = [lo * (hi / lo) ** (i / 63) for i in range(64)]
        ax.plot(xs, [bw * x for x in xs], color="black", lw=0.8,
                label=f"DDR roof {bw} GB/s sustained ({rl.get('ddr_peak_gbps')} peak)")
        for engine, label in _engines(rep):
            d = rl.get(engine)
            if not d:
                continue
            ax.axhline(d["peak_gops"], lw=0.8, ls=":", color="grey")
            ax.scatter([p["intensity"] for p in d["layers"]], [p["gops"] for p in d["layers"]], s=10,
                       label=f"{label}: {d['ops']}, roof {d['peak_gops']:.0f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ops per DDR byte moved (weights + activations in/out + residual)", fontsize=7)
        ax.set_ylabel("GOP/s (ops / modelled layer time)", fontsize=7)
        ax.set_title(f"{b} roofline, {rl.get('network')} (model)", fontsize=9)
        ax.legend(fontsize=5)
    fig.tight_layout()
    return _save(fig, outdir / "roofline.png", plt)
