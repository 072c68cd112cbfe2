"""`bokehfx train` configuration: the example is complete and valid; bad configs are one error line, exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bokehfx.training.config import config_fields, parse_config
from bokehfx.training.example import example_config
from cli.main import app


class _Result:
    def __init__(self, result) -> None:
        self.returncode, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr


def _cli(*args: str) -> _Result:
    return _Result(CliRunner().invoke(app, list(args)))


@pytest.mark.parametrize("tiny", [False, True])
def test_example_documents_every_key_and_parses(tiny: bool) -> None:
    text = example_config(tiny)
    tables = config_fields()
    for table, keys in tables.items():
        header = f"[[{table}]]" if table in ("data.sources", "stages") else f"[{table}]"
        assert header in text, header
        for key in (k for k in keys if f"{table}.{k}" not in tables):
            assert re.search(rf"^(# )?{key} = .*#|^(# )?{key} = ", text, re.M), f"{table}.{key} missing"
    config = parse_config(text)
    assert [s.train for s in config.stages] == ["unet", "temporal", "decoder"]
    assert config.stages[1].depth_augmentation and config.stages[1].frames > config.stages[0].frames
    if tiny:
        assert config.model.init == "tiny" and config.total_steps <= 10


def test_cli_prints_the_example() -> None:
    proc = _cli("train", "--example", "--tiny")
    assert proc.returncode == 0, proc.stderr
    assert parse_config(proc.stdout).model.init == "tiny"


BAD = {
    "unknown key": ("[training]\nlearning_rte = 1e-4\n", "training.learning_rte"),
    "wrong type": ("[training]\nbatch_size = \"two\"\n", "training.batch_size"),
    "bad choice": ("[training]\nmixed_precision = \"fp8\"\n", "training.mixed_precision"),
    "bad range": ("[data.focus]\nk_range = [31.0, 1.0]\n", "data.focus.k_range"),
    "bad probability": ("[data.look]\nanamorphic_probability = 1.5\n", "data.look.anamorphic_probability"),
    "stray source key": ("[[data.sources]]\nkind = \"procedural\"\ndepth = \"d.png\"\n", "data.sources[0].depth"),
    "missing clip": ("[[data.sources]]\nkind = \"sidecar\"\nvideo = \"nope.mp4\"\ndepth = \"nope.png\"\n",
                     "data.sources[0].video"),
    "missing pairs folder": ("[[data.sources]]\nkind = \"folder\"\npath = \"no_pairs\"\n", "data.sources[0].path"),
    "missing depth cache": ("[[data.sources]]\nkind = \"cached\"\nvideo = \"c.toml\"\ndepth_cache = \"nocache\"\n",
                            "data.sources[0].depth_cache"),
}
STAGES = "[[stages]]\ntrain = \"unet\"\nsteps = 2\n"


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_is_one_error_line_naming_the_key(tmp_path: Path, case: str) -> None:
    body, key = BAD[case]
    config = tmp_path / "c.toml"
    config.write_text(body + STAGES)
    out = tmp_path / "run"
    proc = _cli("train", str(config), "--output", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and key in lines[0], proc.stderr
    assert not out.exists()


def test_missing_stages_and_missing_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[model]\ninit = \"tiny\"\n")
    proc = _cli("train", str(config))
    assert proc.returncode == 2 and "stages" in proc.stderr
    proc = _cli("train", str(tmp_path / "absent.toml"))
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "absent.toml" in proc.stderr
