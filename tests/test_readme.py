"""The README's "Command line" section runs: every example command, parsed from the README, exits 0 on the bundled
data, and its TOML example is a valid config."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cli.main import main
from cli.config import load_config

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = "python run_backtest.py "


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def examples() -> list[str]:
    lines = [line.strip() for block in blocks(section("Command line"), "sh") for line in block.splitlines()]
    return [line for line in lines if line.startswith(PROGRAM)]


def test_the_section_has_an_example_for_every_subcommand():
    from cli.main import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    shown = {shlex.split(line)[2] for line in examples()}
    assert commands <= shown, f"no README example for {sorted(commands - shown)}"


@pytest.mark.parametrize("line", examples())
def test_readme_example_runs(line, tmp_path, monkeypatch, capsys):
    for name in ("examples", "feeds"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)  # outputs land in the test's folder
    code = main(shlex.split(line)[2:])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    assert captured.out.strip()


def test_readme_config_example_is_valid(tmp_path):
    (toml,) = blocks(section("Command line"), "toml")
    path = tmp_path / "example.toml"
    path.write_text(toml, encoding="utf-8")
    config = load_config(path)
    assert config["params"]["rotation"] == {"lookback": 126, "vix_level": None}
    assert config["sweep"]["grid"]["lookback"] == "21:252:21" and config["walkforward"]["in_sample"] == 5


def test_the_command_line_section_starts_within_the_first_150_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert "## Command line" in lines
    assert lines.index("## Command line") < 150, "the README must reach the command line within its first 150 lines"


def test_the_notebook_command_writes_the_executed_notebook(tmp_path):
    """The README's headless notebook command, run as written (its .venv/bin/ is this Python's bin folder) on a copy
    of the notebook: it writes the executed notebook, with every table and chart and no error."""
    import shutil
    import subprocess
    import sys

    import nbformat

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [l.strip() for l in text.splitlines() if l.strip().startswith(".venv/bin/jupyter-execute ")]
    argv = shlex.split(line)
    argv[0] = str(Path(sys.executable).parent / Path(argv[0]).name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    output = argv[argv.index("--output") + 1]
    written = (tmp_path / "notebooks" / output).with_suffix(".ipynb").resolve()
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    notebook = nbformat.read(written, as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum(1 for o in outputs if "image/png" in o.get("data", {})) >= 2
    assert any("rotation" in str(o.get("data", {}).get("text/plain", "")) for o in outputs)  # the comparison table
