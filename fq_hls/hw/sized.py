"""The sized engine of every board: the configuration the report's sizing search last chose, per board and
engine (docs/cost_model.md, sizing rule), kept in one committed data file, fq_hls/data/sized_engines.json.

`fq-hls report` (cost) writes it when it runs the default sizing (no --model, --network or --hw-reports);
everything else reads it through `sized_config(board, engine)`, and the commands that build or run an engine
(`hls`, `build`, `csim`, `run --emulate`, `demo`) take `engine_config(board, engine)`: the sized engine where the
file has one, so that every command and the report describe the same engine. The file holds only the fields
the search chooses (SEARCHED); every other field is the board's default of fq_hls.hw.config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from ..errors import InputError
from .config import BOARDS, ENGINES, HardwareConfig, hardware_config

SIZED_FILE = Path(__file__).resolve().parent.parent / "data" / "sized_engines.json"
# the fields the sizing search chooses; a record needs REQUIRED, and a field a record lacks (a file written
# before the field existed) is the board's default
SEARCHED = ("lanes", "pixels", "clock_mhz", "fill_overlap", "in_ports", "lb_uram", "lb_words", "int8_pack",
            "dsp_lanes", "lut_lanes")
REQUIRED = ("lanes", "pixels", "clock_mhz")
MAX_FILE_BYTES = 1 << 20
WRITER = "fq-hls report: the sizing search of docs/cost_model.md (largest fitting P x V, fastest on ResNet-18)"


def sized_record(cfg: HardwareConfig) -> dict:
    """The searched fields of `cfg`, as the file keeps them."""
    d = asdict(cfg)
    return {k: d[k] for k in SEARCHED}


def _read(path: Path) -> dict:
    from ..safeio import read_regular

    if not path.exists():
        return {"engines": {}}
    try:
        data = json.loads(read_regular(path, MAX_FILE_BYTES, "sized-engine file"))
    except ValueError as e:
        raise InputError(f"{path}: not a sized-engine file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("engines"), dict):
        raise InputError(f"{path}: not a sized-engine file (no 'engines' object)")
    return data


def _config(board: str, engine: str, rec: object, path: Path) -> HardwareConfig:
    where = f"{path}: engines.{board}.{engine}"
    if not isinstance(rec, dict) or not set(REQUIRED) <= set(rec) <= set(SEARCHED):
        raise InputError(f"{where}: expected the fields {', '.join(REQUIRED)} and any of "
                         f"{', '.join(f for f in SEARCHED if f not in REQUIRED)}")
    try:
        return hardware_config(board, engine, **rec)
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: {e}") from None


def sized_configs(path: str | Path | None = None) -> dict[tuple[str, str], HardwareConfig]:
    """Every sized configuration in the file (default SIZED_FILE): {(board, engine): HardwareConfig}."""
    path = Path(path or SIZED_FILE)
    out = {}
    for board, engines in _read(path)["engines"].items():
        if board not in BOARDS or not isinstance(engines, dict):
            raise InputError(f"{path}: engines.{board}: not a board ({', '.join(BOARDS)})")
        for engine, rec in engines.items():
            if engine not in ENGINES:
                raise InputError(f"{path}: engines.{board}.{engine}: not an engine ({', '.join(ENGINES)})")
            out[(board, engine)] = _config(board, engine, rec, path)
    return out


def sized_config(board: str, engine: str = "fq", path: str | Path | None = None) -> HardwareConfig:
    """The sized configuration of `engine` on `board`; InputError when the file has none."""
    path = Path(path or SIZED_FILE)
    cfgs = sized_configs(path)
    if (board, engine) not in cfgs:
        raise InputError(f"{path}: no sized {engine} engine for board {board!r}; "
                         f"`fq-hls report --board {board}` sizes it")
    return cfgs[(board, engine)]


def engine_config(board: str, engine: str = "fq", path: str | Path | None = None, use_sized: bool = True,
                  **overrides) -> tuple[HardwareConfig, str]:
    """The configuration a command builds or runs: the sized engine of `board` (the file's, default SIZED_FILE)
    or, where the file has none, the board's default (fq_hls.hw.config); `overrides` replace fields (a changed
    V resets lb_words, a depth sized for the old V); `use_sized=False` starts from the board default. Returns it and where it came from ("sized", "default",
    each + " with overrides" where some were given). InputError for an unknown board or engine."""
    if board not in BOARDS:
        raise InputError(f"--board {board!r}: unknown board; choose one of {', '.join(BOARDS)}")
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r}: unknown engine; choose one of {', '.join(ENGINES)}")
    cfgs = sized_configs(path) if use_sized else {}
    origin = "sized" if (board, engine) in cfgs else "default"
    cfg = cfgs.get((board, engine)) or hardware_config(board, engine)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        if "pixels" in overrides and overrides["pixels"] != cfg.pixels and "lb_words" not in overrides:
            overrides["lb_words"] = 0
        for f in ("dsp_lanes", "lut_lanes"):  # lanes of a kind cannot outnumber the lanes: fewer lanes clamp them
            if "lanes" in overrides and f not in overrides and hasattr(cfg, f):
                overrides[f] = min(getattr(cfg, f), overrides["lanes"])
        try:
            cfg = hardware_config(board, engine, **{**sized_record(cfg), **overrides})
        except (TypeError, ValueError) as e:
            raise InputError(f"engine options: {e}") from None
        origin += " with overrides"
    return cfg, origin


def origin_of(cfg: HardwareConfig, path: str | Path | None = None) -> str:
    """What `cfg` is, for a build manifest: the sized engine of its board, the board default, or custom."""
    try:
        if sized_configs(path).get((cfg.board, cfg.engine)) == cfg:
            return f"sized ({Path(path or SIZED_FILE).name}: what `fq-hls report` chose)"
    except InputError:
        pass
    try:
        if hardware_config(cfg.board, cfg.engine) == cfg:
            return "board default (fq_hls/hw/config.py)"
    except ValueError:
        pass
    return "custom (command-line options)"


def write_sized(configs: Mapping[tuple[str, str], HardwareConfig], path: str | Path | None = None,
                sizing_network: str = "resnet18") -> bool:
    """Merge `configs` into the file (default SIZED_FILE; other boards keep their entries); False when
    nothing changed."""
    from ..safeio import write_files

    path = Path(path or SIZED_FILE)
    old = _read(path)
    engines = {b: dict(e) for b, e in old["engines"].items()}
    for (board, engine), cfg in configs.items():
        engines.setdefault(board, {})[engine] = sized_record(cfg)
    order = [b for b in BOARDS if b in engines] + sorted(b for b in engines if b not in BOARDS)
    new = {"written_by": WRITER, "sizing_network": sizing_network,
           "engines": {b: {e: engines[b][e] for e in ENGINES if e in engines[b]} for b in order}}
    if new == old:
        return False
    write_files([(path, json.dumps(new, indent=1) + "\n")])
    return True
