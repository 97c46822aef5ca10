"""Option parsing as a user (or a fuzzer) meets it: every bad value is one line and exit 2, the
common flags work anywhere, and nothing prints a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from momentfinder import __version__
from momentfinder.cli import main
from momentfinder.cli.options import MAX_CLIP_LEN, MIN_CLIP_LEN, clip_seconds


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse exits itself
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


BAD_NUMBERS = [
    ("ground", "V", "q", "--clip-len", "nan"),
    ("ground", "V", "q", "--clip-len", "inf"),
    ("ground", "V", "q", "--clip-len", "-inf"),
    ("ground", "V", "q", "--clip-len", "1e-4"),
    ("ground", "V", "q", "--clip-len", "0"),
    ("ground", "V", "q", "--clip-len", "1e9"),
    ("ground", "V", "q", "--clip-len", "two"),
    ("ground", "V", "q", "--top-k", "0"),
    ("ground", "V", "q", "--top-k", "1.5"),
    ("ground", "V", "q", "--frames-per-clip", "-1"),
    ("ground", "V", "q", "--batch-size", "nan"),
    ("ground", "V", "q", "--threads", "0"),
    ("extract", "V", "--out", "D", "--clip-len", "nan"),
    ("cut", "V", "--start", "nan", "--end", "3", "-o", "O.mp4"),
    ("cut", "V", "--start", "1", "--end", "inf", "-o", "O.mp4"),
    ("cut", "V", "--start", "-5", "--end", "3", "-o", "O.mp4"),
    ("train", "--features", "F", "--train", "T", "--val", "W", "--out", "R", "--clip-len", "0"),
    ("train", "--features", "F", "--train", "T", "--val", "W", "--out", "R", "--epochs", "0"),
    ("train", "--features", "F", "--train", "T", "--val", "W", "--out", "R", "--seed", "x"),
    ("predict", "--features", "F", "--annotations", "A", "--out", "P", "--clip-len", "inf"),
    ("predict", "--features", "F", "--annotations", "A", "--out", "P", "--top-k", "-3"),
    ("predict", "--features", "F", "--annotations", "A", "--out", "P", "--target-rejection", "nan"),
    ("predict", "--features", "F", "--annotations", "A", "--out", "P", "--target-rejection", "1"),
    ("predict", "--features", "F", "--annotations", "A", "--out", "P", "--zeroshot-rerank", "-0.5"),
    ("ground", "V", "q", "--zeroshot-rerank", "nan"),
    ("ground", "V", "q", "--zeroshot-rerank", "0.3"),  # without --model: nothing to re-rank
]


@pytest.mark.parametrize("argv", BAD_NUMBERS, ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_bad_numbers_are_one_line_and_exit_2(capsys, colour_video, tmp_path, argv):
    argv = [colour_video if a == "V" else str(tmp_path / a) if a in "DFTWRAPO.mp4" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    line = one_line(err)
    assert line.startswith("momentfinder"), line


def test_version_and_flags_anywhere(capsys, tmp_path):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"momentfinder {__version__}"
    missing = tmp_path / "missing.mp4"
    for argv in (
        ["-v", "ground", missing, "q"],
        ["ground", missing, "q", "-v"],
        ["ground", "-q", missing, "q"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "no such file" in one_line(err)
    code, _, err = run(capsys, "-q", "eval", "--submission", missing, "--gt", missing)
    assert code == 2 and one_line(err)


def test_no_channel_left_is_a_usage_error(capsys, colour_video):
    code, _, err = run(capsys, "ground", colour_video, "q", "--no-visual", "--no-subtitles")
    assert code == 2 and "no channel" in one_line(err)


def test_named_visual_model_must_load_unless_allowed(capsys, colour_video, tmp_path):
    """The default model missing offline is a note; a model the user named is an error."""
    base = ["ground", colour_video, "the weather is sunny today", "--visual-model", tmp_path / "nope"]
    code, _, err = run(capsys, *base, "--cache-dir", tmp_path / "c")
    assert code == 3 and "--allow-missing-channels" in one_line(err)
    code, out, err = run(capsys, *base, "--cache-dir", tmp_path / "c", "--allow-missing-channels", "--json")
    assert code == 0 and '"channels": ["subtitles"]' in out and "warning" in err
    code, out, err = run(capsys, *base, "--cache-dir", tmp_path / "c", "--allow-missing-channels", "-q")
    assert code == 0 and err == ""  # -q silences warnings too


def test_internal_errors_are_one_line(capsys, monkeypatch, tmp_path):
    import momentfinder.cli.cut as cut_module

    def broken(args):
        raise RuntimeError("something deep\nand a second line")

    monkeypatch.setattr(cut_module, "run", broken)  # the parser is built after this, with it
    code, _, err = run(
        capsys, "cut", tmp_path / "x.mp4", "--start", "0", "--end", "1", "-o", tmp_path / "o.mp4"
    )
    assert code == 1 and "internal error: RuntimeError: something deep" in one_line(err)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_clip_length_parsing_accepts_only_sane_seconds(text):
    import argparse
    import math

    try:
        value = clip_seconds(text)
    except argparse.ArgumentTypeError as err:
        assert "\n" not in str(err)
    else:
        assert math.isfinite(value) and MIN_CLIP_LEN <= value <= MAX_CLIP_LEN


def test_real_process_prints_no_traceback_for_bad_options(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "momentfinder", "ground", str(tmp_path / "v.mp4"), "q", "--clip-len", "nan"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_output_paths_are_checked_before_the_work(capsys, colour_video, tiny_clip, tmp_path, monkeypatch):
    from momentfinder.channels import VisualChannel

    def no_work(*args, **kwargs):
        raise AssertionError("decoded before checking the outputs")

    monkeypatch.setattr(VisualChannel, "extract", no_work)
    blocked = tmp_path / "file"
    blocked.write_text("x")
    for option in (["--plot", blocked / "sub" / "p.png"], ["--plot", tmp_path], ["--export", blocked]):
        code, _, err = run(capsys, "ground", colour_video, "q", "--visual-model", tiny_clip, *option)
        assert code == 2 and one_line(err).startswith("momentfinder: error:")


def test_results_are_printed_before_the_outputs_are_written(
    capsys, colour_video, tiny_clip, tmp_path, monkeypatch
):
    """A plot that fails to write after grounding costs the plot, not the printed results."""
    import momentfinder.pipeline.output as output

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "p.png"))

    monkeypatch.setattr(output, "plot_saliency", full_disk)
    argv = ["ground", colour_video, "a red scene", "--visual-model", tiny_clip, "--no-subtitles", "--json"]
    code, out, err = run(capsys, *argv, "--plot", tmp_path / "p.png", "--cache-dir", tmp_path / "c")
    assert code == 2 and '"pred_relevant_windows"' in out and "No space left" in one_line(err)


def test_subtitle_options_with_no_subtitles_contradict(capsys, colour_video):
    code, _, err = run(capsys, "ground", colour_video, "q", "--no-subtitles", "--subtitle-lang", "fr")
    assert code == 2 and "contradict" in one_line(err)
