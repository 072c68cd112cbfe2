"""The training configuration: a TOML file, read strictly.

Every table is a dataclass below (the data tables reuse the synthesiser's own range classes), read
by one strict loader: an unknown key, a value of the wrong type, a probability outside [0, 1], a
range whose low end is above its high end, or a data path that does not exist is refused with a
:class:`bokehfx.errors.UsageError` (or :class:`bokehfx.errors.InputNotFoundError`) whose message
starts with the key, e.g. ``config: data.sources[1].video: 'clip.mp4' does not exist``. Relative
paths are read against the config file's folder. ``bokehfx train --example`` prints a complete
commented config (:mod:`bokehfx.training.example`).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bokehfx.errors import InputNotFoundError, UsageError
from bokehfx.training.augment import CropRanges, DisparityCorruption
from bokehfx.training.sampling import FocusRanges, LookRanges

SourceKind = Literal["procedural", "sidecar", "cached", "folder"]
StageKind = Literal["unet", "temporal", "decoder"]
MixedPrecision = Literal["no", "fp16", "bf16"]
Scheduler = Literal["constant", "constant_with_warmup", "linear", "cosine"]

#: Keys each source kind may hold beside ``kind`` and ``weight``.
SOURCE_KEYS: dict[str, frozenset[str]] = {
    "procedural": frozenset({"layers", "lights", "speed"}),
    "sidecar": frozenset({"video", "depth", "depth_kind", "depth_encoding", "depth_range", "fps"}),
    "cached": frozenset({"video", "depth_cache", "entry", "fps"}),
    "folder": frozenset({"path"}),
}
#: Keys that name files or folders that must exist (resolved against the config's folder).
PATH_KEYS = ("video", "depth", "depth_cache", "path")
#: Two-number fields that are sizes, not ranges.
SIZE_FIELDS = frozenset({"size", "reference_size"})


@dataclass(frozen=True)
class SourceConfig:
    r"""One ``[[data.sources]]`` entry (see :mod:`bokehfx.training.example` for every key)."""

    kind: SourceKind
    weight: float = 1.0
    layers: tuple[int, int] = (3, 5)
    lights: tuple[int, int] = (4, 16)
    speed: tuple[float, float] = (0.0, 2.0)
    video: str | None = None
    depth: str | None = None
    depth_kind: Literal["depth", "disparity"] = "depth"
    depth_encoding: Literal["raw", "mm", "tum", "nyu", "sun"] = "raw"
    depth_range: tuple[float, float] | None = None
    fps: float | None = None
    depth_cache: str | None = None
    entry: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class DataConfig:
    r"""The ``[data]`` table."""

    size: tuple[int, int] = (64, 96)
    reference_size: tuple[int, int] = (64, 96)
    rate: float = 24.0
    seed: int = 0
    samples_per_epoch: int = 10_000
    num_workers: int = 0
    cache_dir: str | None = None
    focus: FocusRanges = FocusRanges()
    look: LookRanges = LookRanges()
    crop: CropRanges = CropRanges()
    corruption: DisparityCorruption = DisparityCorruption()
    sources: tuple[SourceConfig, ...] = (SourceConfig(kind="procedural"),)


@dataclass(frozen=True)
class ModelConfig:
    r"""The ``[model]`` table."""

    init: str = "tiny"


@dataclass(frozen=True)
class TrainingConfig:
    r"""The ``[training]`` table."""

    seed: int = 0
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    mixed_precision: MixedPrecision = "no"
    gradient_checkpointing: bool = False
    learning_rate: float = 1e-4
    lr_scheduler: Scheduler = "constant"
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    ema: bool = True
    ema_decay: float = 0.999
    objective: Literal["one_step", "denoise"] = "one_step"
    dropout_reference: float = 0.05
    dropout_text: float = 0.05
    dropout_both: float = 0.05
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    tensorboard: bool = True


@dataclass(frozen=True)
class ValidationConfig:
    r"""The ``[validation]`` table."""

    every: int = 500
    samples: int = 2
    seed: int = 1234
    inference_steps: int = 1


@dataclass(frozen=True)
class StageConfig:
    r"""One ``[[stages]]`` entry."""

    train: StageKind
    steps: int
    frames: int = 4
    name: str | None = None
    learning_rate: float | None = None
    depth_augmentation: bool = False
    texture_weight: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    r"""A whole training configuration."""

    stages: tuple[StageConfig, ...]
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    training: TrainingConfig = TrainingConfig()
    validation: ValidationConfig = ValidationConfig()
    base_dir: Path = field(default=Path("."), compare=False)
    source_text: str = field(default="", compare=False)

    @property
    def total_steps(self) -> int:
        """Optimizer steps over all stages."""
        return sum(s.steps for s in self.stages)

    def stage_at(self, step: int) -> tuple[int, StageConfig, int]:
        """``(stage index, stage, first step of the stage)`` of global optimizer step ``step``."""
        first = 0
        for i, stage in enumerate(self.stages):
            if step < first + stage.steps:
                return i, stage, first
            first += stage.steps
        return len(self.stages) - 1, self.stages[-1], first - self.stages[-1].steps


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"config: {where}: {message}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} {_type_name(args[0])}s"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _value(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _value(inner[0], value, where)
    if origin is Literal:
        if value not in typing.get_args(tp) or isinstance(value, bool):
            raise _fail(where, f"must be {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not isinstance(value, list) or (not variadic and len(value) != len(args)):
            raise _fail(where, f"must be {_type_name(tp)}, got {value!r}")
        return tuple(_value(args[0] if variadic else args[i], v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(where, f"must be a table, got {value!r}")
        return _table(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _fail(where, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, f"must be a string, got {value!r}")
        return value
    raise _fail(where, f"has an unsupported type {tp!r}")  # a bug in the schema, not in the file


def _check_field(name: str, value: Any, where: str) -> None:
    if isinstance(value, float) and (name.endswith("probability") or name.startswith("dropout_")):
        if not 0.0 <= value <= 1.0:
            raise _fail(where, f"must be in [0, 1], got {value!r}")
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        if name in SIZE_FIELDS:
            if min(value) < 16:
                raise _fail(where, f"must be [height, width] of at least 16 pixels each, got {list(value)}")
        elif value[0] > value[1]:
            raise _fail(where, f"must be [low, high] with low <= high, got {list(value)}")


def _table(cls: type, table: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init and f.name not in ("base_dir", "source_text")}
    for key in table:
        if key not in names:
            raise _fail(f"{where}.{key}" if where else key, f"unknown key (known: {', '.join(sorted(names))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name in names:
                raise _fail(f"{where}.{f.name}" if where else f.name, "is required")
            continue
        key = f"{where}.{f.name}" if where else f.name
        if typing.get_origin(hints[f.name]) is tuple and dataclasses.is_dataclass(typing.get_args(hints[f.name])[0]):
            items = table[f.name]
            if not isinstance(items, list) or not items:
                raise _fail(key, f"must be a non-empty array of tables ([[{key}]]), got {items!r}")
            item_cls = typing.get_args(hints[f.name])[0]
            kwargs[f.name] = tuple(_value(item_cls, item, f"{key}[{i}]") for i, item in enumerate(items))
            continue
        value = _value(hints[f.name], table[f.name], key)
        _check_field(f.name, value, key)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except UsageError as err:
        raise _fail(where or "config", str(err)) from None


def _positive(where: str, value: int | float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise _fail(where, f"must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _check_source_keys(table: dict[str, Any]) -> None:
    data = table.get("data")
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list):
        return
    for i, src in enumerate(sources):
        if not isinstance(src, dict) or src.get("kind") not in SOURCE_KEYS:
            continue
        stray = sorted(set(src) - SOURCE_KEYS[src["kind"]] - {"kind", "weight"})
        if stray:
            raise _fail(f"data.sources[{i}].{stray[0]}", f"does not apply to a source of kind {src['kind']!r}")


def _existing(where: str, value: str, base: Path) -> str:
    from bokehfx.io.paths import is_sequence_pattern, sequence_files

    path = Path(value) if Path(value).is_absolute() else base / value
    found = bool(sequence_files(path)) if is_sequence_pattern(path) else path.exists()
    if not found:
        raise InputNotFoundError(f"config: {where}: {value!r} does not exist")
    return str(path)


def _check_sources(data: DataConfig, base: Path) -> DataConfig:
    sources = []
    required = {"sidecar": ("video", "depth"), "cached": ("video", "depth_cache"), "folder": ("path",)}
    for i, src in enumerate(data.sources):
        where = f"data.sources[{i}]"
        _positive(f"{where}.weight", src.weight, allow_zero=True)
        for key in required.get(src.kind, ()):
            if getattr(src, key) is None:
                raise _fail(f"{where}.{key}", f"is required for a source of kind {src.kind!r}")
        resolved = {key: _existing(f"{where}.{key}", getattr(src, key), base)
                    for key in PATH_KEYS if getattr(src, key) is not None}
        sources.append(dataclasses.replace(src, **resolved))
    if sum(s.weight for s in sources) <= 0:
        raise _fail("data.sources", "the weights must not all be 0")
    cache = data.cache_dir
    if cache is not None and not Path(cache).is_absolute():
        cache = str(base / cache)
    return dataclasses.replace(data, sources=tuple(sources), cache_dir=cache)


def parse_config(text: str, base_dir: Path | None = None) -> TrainConfig:
    """Read a configuration from TOML text (paths relative to ``base_dir``)."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"config: not valid TOML: {err}") from None
    _check_source_keys(table)
    config: TrainConfig = _table(TrainConfig, table, "")
    base = Path(base_dir or ".")
    for i, stage in enumerate(config.stages):
        _positive(f"stages[{i}].steps", stage.steps)
        _positive(f"stages[{i}].frames", stage.frames)
        if stage.learning_rate is not None:
            _positive(f"stages[{i}].learning_rate", stage.learning_rate)
        _positive(f"stages[{i}].texture_weight", stage.texture_weight, allow_zero=True)
    t = config.training
    for key in ("batch_size", "gradient_accumulation_steps", "checkpoint_every", "keep_checkpoints", "log_every"):
        _positive(f"training.{key}", getattr(t, key))
    _positive("training.learning_rate", t.learning_rate)
    if not 0.0 <= t.ema_decay < 1.0:
        raise _fail("training.ema_decay", f"must be in [0, 1), got {t.ema_decay!r}")
    if t.dropout_reference + t.dropout_text + t.dropout_both > 1.0:
        raise _fail("training.dropout_both", "the three dropout chances must add up to at most 1")
    _positive("validation.every", config.validation.every, allow_zero=True)
    _positive("validation.samples", config.validation.samples)
    _positive("validation.inference_steps", config.validation.inference_steps)
    d = config.data
    _positive("data.rate", d.rate)
    _positive("data.samples_per_epoch", d.samples_per_epoch)
    _positive("data.num_workers", d.num_workers, allow_zero=True)
    return dataclasses.replace(config, data=_check_sources(d, base), base_dir=base, source_text=text)


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate the configuration file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"config file {str(path)!r} does not exist")
    return parse_config(path.read_text(), path.resolve().parent)


def config_fields() -> dict[str, list[str]]:
    """Every key of every table (for the example's completeness test and the docs)."""
    out = {}
    for name, cls in (("model", ModelConfig), ("data", DataConfig), ("data.focus", FocusRanges),
                      ("data.look", LookRanges), ("data.crop", CropRanges), ("data.corruption", DisparityCorruption),
                      ("data.sources", SourceConfig), ("training", TrainingConfig),
                      ("validation", ValidationConfig), ("stages", StageConfig)):
        out[name] = [f.name for f in dataclasses.fields(cls) if f.init]
    return out


__all__ = ["DataConfig", "ModelConfig", "SourceConfig", "StageConfig", "TrainConfig", "TrainingConfig",
           "ValidationConfig", "config_fields", "load_config", "parse_config"]
