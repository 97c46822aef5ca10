"""The sound channel (a tiny random CLAP through the real loading code) and the fusion of channels
with per-query weights and per-moment contributions, on controlled inputs."""

from __future__ import annotations

import numpy as np
import pytest

from momentfinder.channels import (
    ChannelCurve,
    Media,
    Query,
    SoundChannel,
    apply_weight_factors,
    channel_shares,
    fuse_curves,
)
from momentfinder.cli import main
from momentfinder.encoders.clap import ClapAudioTextEncoder
from momentfinder.encoders.random_audio_models import save_random_clap
from momentfinder.errors import ModelUnavailableError
from momentfinder.pipeline.finder import FinderConfig, MomentFinder
from momentfinder.query import channel_weight_factors, query_kind
from momentfinder.types import Timeline
from momentfinder.video.decode import probe
from momentfinder.video.sample import Scene, write_sample_video

from .speech_media import ffmpeg_run


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory) -> str:
    return save_random_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def beeps(tmp_path_factory) -> str:
    """10 s of video; silence except a loud 1 kHz tone from 4 s to 6 s."""
    out = tmp_path_factory.mktemp("sound") / "beep.mp4"
    ffmpeg_run(
        "-f", "lavfi", "-i", "color=c=green:s=64x48:r=10:d=10",
        "-f", "lavfi", "-i", "aevalsrc='0.5*sin(2*PI*1000*t)*between(t,4,6)':s=48000:d=10",
        "-map", "0", "-map", "1", "-c:v", "libx264", "-c:a", "aac", str(out),
    )  # fmt: skip
    return str(out)


def test_query_kinds():
    assert query_kind("when does the coach talk about defence") == "speech"
    assert query_kind('the part where she says "see you tomorrow"') == "speech"
    assert query_kind("applause") == "sound" and query_kind("a dog barks") == "sound"
    assert query_kind("a man opens the door") == "any"
    assert channel_weight_factors("applause")["sound"] > 1 > channel_weight_factors("applause")["visual"]
    assert channel_weight_factors("a man opens the door") == {}


def _curve(name, values, weight=1.0):
    return ChannelCurve(name, np.asarray(values, dtype=float), weight)


def test_weights_decide_which_channel_a_fused_moment_follows():
    visual = _curve("visual", [0, 0, 5, 0, 0, 0, 0, 0])  # a peak at clip 2
    sound = _curve("sound", [0, 0, 0, 0, 0, 0, 5, 0])  # a peak at clip 6
    even = fuse_curves([visual, sound])
    assert even[2] == pytest.approx(even[6])
    loud = fuse_curves(apply_weight_factors([visual, sound], channel_weight_factors("applause")))
    assert int(np.argmax(loud)) == 6
    assert channel_shares(apply_weight_factors([visual, sound], {"sound": 3.0}), 6, 7) == {"sound": 1.0}
    both = channel_shares([visual, _curve("speech", [0, 0, 5, 0, 0, 0, 0, 0], 3.0)], 2, 3)
    assert both == pytest.approx({"visual": 0.25, "speech": 0.75})
    assert channel_shares([visual], 0, 1) == {"visual": 1.0}
    assert channel_shares([visual, sound], 0, 1) == {}  # both below their mean there


def test_tiny_clap_loads_and_embeds(tiny_clap, tmp_path):
    enc = ClapAudioTextEncoder(tiny_clap)
    assert enc.sample_rate == 48_000 and enc.dim == 16 and enc.fingerprint.startswith("dir:")
    rng = np.random.default_rng(0)
    audio = enc.encode_audio([rng.standard_normal(96_000).astype(np.float32), np.zeros(1000, np.float32)])
    text = enc.encode_texts(["applause", "a dog barks in the yard"])
    assert audio.shape == (2, 16) and text.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(audio, axis=1), 1.0, rtol=1e-5)
    (tmp_path / "not-clap").mkdir()
    (tmp_path / "not-clap" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelUnavailableError, match="takes a CLAP model"):
        ClapAudioTextEncoder(str(tmp_path / "not-clap"))


def test_sound_channel_features_follow_the_audio(tiny_clap, beeps):
    info = probe(beeps)
    timeline = Timeline.covering(info.duration, 2.0)
    channel = SoundChannel(lambda: ClapAudioTextEncoder(tiny_clap))
    feats = channel.extract(Media(info, timeline))
    assert feats.features.shape == (timeline.n_clips, 16)
    # clips 0, 1, 3, 4 are silence (AAC leaves a trace of the tone beside it); clip 2 (4–6 s) is
    # the tone: its embedding stands apart from all of theirs
    f = feats.features
    quiet = [0, 1, 3, 4]
    spread = max(np.linalg.norm(f[i] - f[j]) for i in quiet for j in quiet)
    assert min(np.linalg.norm(f[2] - f[i]) for i in quiet) > 3 * spread
    curve = channel.relevance(feats, Query("a loud beep"), timeline)
    assert curve.values.shape == (timeline.n_clips,) and curve.chance is not None


def test_sound_in_the_finder_is_cached_and_reported(tiny_clap, tiny_clip, beeps, tmp_path, monkeypatch):
    config = FinderConfig(
        visual_model=tiny_clip, sound_model=tiny_clap, cache_dir=str(tmp_path), progress=False
    )
    finder = MomentFinder(config=config)
    feats = finder.extract(beeps)
    assert set(feats.channels) == {"visual", "sound"}
    assert list((tmp_path / "features").rglob("*-sound-*.npz"))
    calls = []
    monkeypatch.setattr(SoundChannel, "extract", lambda self, media: calls.append(media))
    cached = MomentFinder(config=config).extract(beeps).channel_features["sound"]
    assert calls == [] and np.array_equal(cached.features, feats.channel_features["sound"].features)
    result = finder.ground_features(feats, "applause", top_k=2)
    assert result.channels == ["visual", "sound"]
    assert all(m.contributions and abs(sum(s for _, s in m.contributions) - 1) < 1e-6 for m in result.moments)


def test_channels_override_and_missing_default_sound_model(tiny_clip, beeps, tmp_path):
    only_visual = MomentFinder(
        config=FinderConfig(
            visual_model=tiny_clip, channels=("visual",), cache_dir=str(tmp_path), progress=False
        )
    )
    assert [c.name for c in only_visual.channels] == ["visual"]
    # the default CLAP is not downloadable here: the channel is off with a note, grounding goes on
    default = MomentFinder(
        config=FinderConfig(
            visual_model=tiny_clip, channels=("visual", "sound"), cache_dir=str(tmp_path), progress=False
        )
    )
    feats = default.extract(beeps)
    assert feats.channels == ["visual"]
    assert any(
        n.startswith("sound channel off: cannot load sound model 'laion/clap-htsat-unfused'")
        for n in feats.notes
    )


def test_sound_on_a_mute_video_is_a_note(tiny_clap, tiny_clip, tmp_path):
    mute = write_sample_video(str(tmp_path / "mute.mp4"), [Scene(4, (9, 9, 9))], size=(64, 48), fps=10)
    finder = MomentFinder(
        config=FinderConfig(
            visual_model=tiny_clip,
            sound_model=tiny_clap,
            asr_model="pocketsphinx",
            use_cache=False,
            progress=False,
        )
    )
    feats = finder.extract(mute)
    assert feats.channels == ["visual"]
    assert "sound channel off: the file has no audio stream" in feats.notes
    assert "speech channel off: the file has no audio stream" in feats.notes


def test_ground_cli_channels_json(tiny_clap, tiny_clip, beeps, tmp_path, capsys):
    import json

    code = main(
        ["ground", beeps, "a loud beep", "--visual-model", tiny_clip, "--sound-model", tiny_clap,
         "--channels", "visual,sound=2", "--cache-dir", str(tmp_path), "--json", "-q"]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["channels"] == ["visual", "sound"]
    assert all("contributions" in m for m in out["moments"])


def test_ground_cli_bad_channel_list(capsys, beeps):
    with pytest.raises(SystemExit) as info:
        main(["ground", beeps, "x", "--channels", "visual,smell"])
    assert info.value.code == 2 and "unknown channel 'smell'" in capsys.readouterr().err


def test_contradicting_channel_options(capsys, beeps):
    assert main(["ground", beeps, "x", "--no-visual", "--channels", "visual,sound"]) == 2
    assert "--no-visual and --channels visual contradict" in capsys.readouterr().err
    assert main(["ground", beeps, "x", "--no-subtitles", "--channels", "subtitles"]) == 2
    assert "--no-subtitles and --channels subtitles contradict" in capsys.readouterr().err


def test_the_table_shows_each_channels_share():
    from momentfinder.pipeline.output import format_result
    from momentfinder.types import GroundingResult, Moment

    moment = Moment(2.0, 4.0, 1.0, 0.9, "speech", (("speech", 0.8), ("visual", 0.2)))
    result = GroundingResult(
        "q", Timeline.covering(10.0, 2.0), [moment], np.zeros(5), channels=["visual", "speech"]
    )
    assert "speech (speech 80%, visual 20%)" in format_result(result)
    assert moment.to_json()["contributions"] == {"speech": 0.8, "visual": 0.2}
