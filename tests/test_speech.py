"""Speech: pocketsphinx on espeak-ng speech at known times, a tiny random Whisper through the real
loading code, windowing, the transcript cache, the speech channel in grounding, and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from momentfinder.channels import transcribe_chunks
from momentfinder.cli import main
from momentfinder.encoders.random_audio_models import save_random_whisper
from momentfinder.encoders.sphinx import SphinxRecognizer, group_words
from momentfinder.encoders.whisper import WhisperRecognizer, window_segments
from momentfinder.errors import ModelUnavailableError
from momentfinder.pipeline.finder import FinderConfig, MomentFinder
from momentfinder.types import SubtitleSegment
from momentfinder.video.audio import AudioChunk, read_audio
from momentfinder.video.subtitles import read_subtitle_file

from .speech_media import video_with_speech

NUMBERS = "one two three four five"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> str:
    """20 s of video; "one two three four five" spoken from 3 s, silence everywhere else."""
    return str(video_with_speech(tmp_path_factory.mktemp("speech") / "numbers.mp4", [(3.0, NUMBERS)], 20.0))


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> str:
    return save_random_whisper(tmp_path_factory.mktemp("tiny-whisper"), "tiny")


def test_pocketsphinx_hears_the_words_where_they_are_said(spoken):
    recognizer = SphinxRecognizer()
    segments = list(transcribe_chunks(recognizer, [AudioChunk(0.0, read_audio(spoken))]))
    assert segments, "pocketsphinx heard nothing"
    words = " ".join(s.text for s in segments).split()
    # espeak-ng's voice is synthetic and pocketsphinx is weak: most of the digits, not all, are heard
    assert len(set(words) & set(NUMBERS.split())) >= 3, words
    # every line lies where the speech is (3 s to about 4.7 s): nothing heard in the silence
    assert all(2.7 <= s.start and s.end <= 5.5 for s in segments), segments
    assert abs(segments[0].start - 3.0) < 0.4


def test_words_group_into_lines_at_pauses():
    words = [(0.0, 0.3, "a"), (0.35, 0.6, "b"), (1.5, 1.8, "c")]
    assert group_words(words) == [(0.0, 0.6, "a b"), (1.5, 1.8, "c")]


class _Recorder:
    """A fake recogniser: records the windows it is given; says a full window is done up to 20 s."""

    sample_rate = 100
    window_s = 30.0
    name = "fake"

    def __init__(self):
        self.windows: list[tuple[float, float]] = []

    def transcribe(self, samples, offset):
        length = len(samples) / self.sample_rate
        self.windows.append((offset, length))
        done = 20.0 if length >= self.window_s else length
        return [SubtitleSegment(offset, offset + 1.0, f"at {offset:g}")], done


def test_windows_resume_where_the_recogniser_stopped():
    rec = _Recorder()
    audio = np.full(100 * 70, 0.1, dtype=np.float32)  # 70 s, loud enough to not be silence
    chunks = [AudioChunk(i * 7.0, audio[i * 700 : (i + 1) * 700]) for i in range(10)]
    segments = list(transcribe_chunks(rec, chunks))
    # 0–30 done to 20, 20–50 done to 40, 40–70 done to 60, then the 10 s tail
    assert rec.windows == [(0.0, 30.0), (20.0, 30.0), (40.0, 30.0), (60.0, 10.0)]
    assert [s.start for s in segments] == [0.0, 20.0, 40.0, 60.0]


def test_silent_windows_are_not_transcribed():
    rec = _Recorder()
    chunks = [AudioChunk(0.0, np.zeros(100 * 45, dtype=np.float32))]
    assert list(transcribe_chunks(rec, chunks)) == [] and rec.windows == []


def test_window_segments_clamp_and_drop():
    segs, done = window_segments([(1.0, 2.0, " hi "), (3.0, 99.0, "x"), (5.0, 6.0, "  ")], 30.0, 100.0, True)
    assert segs == [SubtitleSegment(101.0, 102.0, "hi"), SubtitleSegment(103.0, 130.0, "x")]
    assert done == 30.0  # the last segment runs to the end: the whole window is done
    segs, done = window_segments([(1.0, 2.0, "a"), (18.0, 24.0, "b")], 30.0, 0.0, True)
    assert done == 24.0  # the rest (24–30 s) is heard again with the next window
    assert window_segments([(18.0, 24.0, "b")], 12.0, 0.0, False)[1] == 12.0


def test_tiny_whisper_loads_and_transcribes_with_timestamps(tiny_whisper):
    rec = WhisperRecognizer(tiny_whisper, max_new_tokens=12)
    assert rec.fingerprint.startswith("dir:") and rec.generate_kwargs()["return_timestamps"]
    rng = np.random.default_rng(0)
    segments, done = rec.transcribe((0.1 * rng.standard_normal(16000 * 30)).astype(np.float32), 60.0)
    assert 0 < done <= 30.0
    # random weights say nonsense, but the times are inside the window, in file seconds
    assert all(60.0 <= s.start <= s.end <= 90.0 for s in segments)


def test_a_whisper_that_cannot_load_is_one_line(tmp_path, tiny_whisper):
    with pytest.raises(ModelUnavailableError, match="no such directory"):
        WhisperRecognizer(str(tmp_path / "nowhere" / "model"))
    with pytest.raises(ModelUnavailableError, match="not in the Hugging Face cache"):
        WhisperRecognizer("someone/whisper-that-is-not-cached")


def test_the_default_whisper_falls_back_to_pocketsphinx(tmp_path, spoken):
    finder = MomentFinder(
        config=FinderConfig(visual_model=None, channels=("speech",), cache_dir=str(tmp_path), progress=False)
    )
    transcript = finder.transcribe(spoken)
    assert transcript.model == "pocketsphinx"
    assert "openai/whisper-base" in transcript.notes[0] and "pocketsphinx" in transcript.notes[0]


def test_a_named_whisper_that_cannot_load_is_an_error(tmp_path, spoken):
    finder = MomentFinder(
        config=FinderConfig(
            visual_model=None, asr_model=str(tmp_path / "missing"), use_cache=False, progress=False
        )
    )
    with pytest.raises(ModelUnavailableError):
        finder.transcribe(spoken)


def test_transcripts_are_cached(tmp_path, spoken, monkeypatch):
    config = FinderConfig(
        visual_model=None,
        asr_model="pocketsphinx",
        channels=("speech",),
        cache_dir=str(tmp_path),
        progress=False,
    )
    first = MomentFinder(config=config).transcribe(spoken)
    calls = []
    monkeypatch.setattr(SphinxRecognizer, "transcribe", lambda *a: calls.append(a) or ([], 30.0))
    second = MomentFinder(config=config).transcribe(spoken)
    assert calls == [] and second.segments == first.segments and second.audio == first.audio
    # a damaged cache entry is dropped and the audio transcribed again
    (entry,) = [p for p in (tmp_path / "features").rglob("*-speech-*.npz")]
    entry.write_bytes(entry.read_bytes()[:100])
    MomentFinder(config=config).transcribe(spoken)
    assert calls, "a damaged entry was trusted"


def test_the_speech_channel_finds_what_is_said(tmp_path, tiny_clip):
    video = video_with_speech(tmp_path / "two.mp4", [(2.0, NUMBERS), (12.0, "one two three four five")], 20.0)
    finder = MomentFinder(
        config=FinderConfig(
            visual_model=tiny_clip, asr_model="pocketsphinx", cache_dir=str(tmp_path / "c"), progress=False
        )
    )
    feats = finder.extract(video)
    assert set(feats.channels) == {"visual", "speech"}
    result = finder.ground_features(feats, "someone says one two three four five", top_k=3)
    assert result.channels[0] in ("visual", "speech") and "speech" in result.channels
    best = result.moments[0]
    assert best.evidence == "speech"
    assert (1.5 <= best.start <= 3.0) or (11.5 <= best.start <= 13.0), best  # on a spoken line's times
    shares = dict(best.contributions)
    assert shares["speech"] > 0.5, shares  # a speech query rests on the speech channel
    assert json.loads(json.dumps(result.to_json()))["moments"][0]["contributions"]["speech"] > 0.5


def test_transcribe_cli(tmp_path, spoken, capsys):
    srt = tmp_path / "out.srt"
    code = main(
        [
            "transcribe",
            spoken,
            "--asr-model",
            "pocketsphinx",
            "--cache-dir",
            str(tmp_path),
            "--srt",
            str(srt),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "pocketsphinx" and out["segments"]
    lines = read_subtitle_file(str(srt))
    assert [(round(s.start, 2), s.text) for s in lines] == [(x["start"], x["text"]) for x in out["segments"]]


def test_transcribe_cli_errors(tmp_path, spoken, capsys):
    from momentfinder.video.sample import Scene, write_sample_video

    mute = write_sample_video(str(tmp_path / "mute.mp4"), [Scene(2, (1, 2, 3))], size=(64, 48), fps=10)
    cases = [
        ([mute, "--asr-model", "pocketsphinx"], 2, "no audio stream"),
        ([spoken, "--asr-model", "pocketsphinx", "--audio-stream", "3"], 2, "no audio track 3"),
        ([spoken, "--asr-model", str(tmp_path / "none" / "x")], 3, "cannot load speech model"),
        ([str(tmp_path / "missing.mp4")], 2, "no such file"),
    ]
    for args, code, message in cases:
        got = main(["transcribe", *args, "--no-cache"])
        err = capsys.readouterr().err.strip().splitlines()
        assert got == code, (args, err)
        assert len(err) == 1 and err[0].startswith("momentfinder: error:") and message in err[0], err


def test_transcripts_are_indexed_and_searchable_in_a_library(tmp_path, tiny_clip):
    from momentfinder.pipeline.library import Library

    video = video_with_speech(tmp_path / "talk.mp4", [(6.0, NUMBERS)], 14.0)
    db = str(tmp_path / "lib.db")
    config = FinderConfig(visual_model=tiny_clip, asr_model="pocketsphinx", cache_dir=str(tmp_path / "c"))
    lib = Library(db, config=config, progress=False)
    report = lib.add([str(video)])
    assert report.added == [str(video)]
    lines = lib.catalog.search_lines("three four", 5)
    assert lines and lines[0].video_id is not None
    lib.close()
    searcher = Library(db, progress=False)
    hits = searcher.search("counting one two three four five", top_k=3)
    assert hits and abs(hits[0].start - 6.0) < 0.6 and hits[0].evidence in ("subtitles", "speech")
    searcher.close()


def test_a_cached_whisper_transcript_needs_no_model(tmp_path, spoken, tiny_whisper, monkeypatch):
    """The transcript's cache key is known before Whisper loads: a second run on the same file reads
    the transcript without loading the model; other settings are another key (the model loads)."""
    config = FinderConfig(
        visual_model=None,
        asr_model=tiny_whisper,
        asr_max_new_tokens=8,
        channels=("speech",),
        cache_dir=str(tmp_path),
        progress=False,
    )
    first = MomentFinder(config=config).transcribe(spoken)
    loads = []
    real_init = WhisperRecognizer.__init__
    monkeypatch.setattr(
        WhisperRecognizer, "__init__", lambda self, *a, **k: loads.append(a) or real_init(self, *a, **k)
    )
    second = MomentFinder(config=config).transcribe(spoken)
    assert loads == [] and second.segments == first.segments and second.model == first.model
    MomentFinder(config=replace(config, asr_max_new_tokens=9)).transcribe(spoken)
    assert len(loads) == 1  # another setting: not the cached transcript
