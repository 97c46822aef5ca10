"""Subtitles as they really come: any encoding, broken sidecars, several embedded tracks.

A generated corpus of subtitle files (UTF-8 with and without BOM, UTF-16/32 with BOM, cp1252,
latin-1, cp1251, Shift-JIS, GB18030; empty, binary, truncated), embedded tracks muxed with
ffmpeg, the CLI end to end, and property tests of the reader with hypothesis.
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from momentfinder.channels import ChannelUnavailable, Media, SubtitleChannel
from momentfinder.cli import main
from momentfinder.errors import InputError
from momentfinder.pipeline import MomentFinder
from momentfinder.query.language import detect_language, normalize_language, same_language
from momentfinder.types import SubtitleSegment, Timeline
from momentfinder.video.decode import probe
from momentfinder.video.sample import Scene, write_sample_video
from momentfinder.video.subtitles import (
    check_encoding,
    decode_subtitle_bytes,
    find_sidecars,
    parse_subtitle_bytes,
    read_subtitle_file,
)

# --- the corpus ---------------------------------------------------------------------------
LINES = {
    "fr": ["Un café, s'il vous plaît : ça coûte 2 € ?", "Elle était naïve, déjà à l'époque."],
    "de": ["Die Straße ist schön, sagt der Bär.", "Grüße aus München für 5 €."],
    "es": ["¿Qué pasó, señor? ¡Mañana llegará el niño!", "La canción del año está aquí."],
    "latin": ["Ça coûte cinq francs, garçon.", "Une crème brûlée très naïve, à côté."],  # no €: latin-1
    "pt": ["Não se esqueça de ajustar os travões.", "Obrigado por assistir, até à próxima!"],
    "it": ["Perché la catena è arrugginita?", "Così la ruota gira già meglio."],
    "nl": [
        "Goedemorgen allemaal, welkom bij het programma.",
        "Vandaag repareren we een oude fiets, één keer.",
    ],
    "sv": ["Hej på dig, hur mår du?", "Vi ska laga en gammal cykel idag."],
    "pl": ["Zażółć gęślą jaźń, powiedział pan Łukasz.", "Dziękuję bardzo, to było świetne."],
    "cs": ["Příliš žluťoučký kůň úpěl ďábelské ódy.", "Děkuji, to je všechno."],
    "el": ["Καλημέρα σε όλους, καλώς ήρθατε.", "Σήμερα θα επισκευάσουμε ένα ποδήλατο."],
    "ru": ["Привет, как дела? Сегодня мы починим велосипед.", "Собака лает на почтальона."],
    "he": ["שלום לכולם וברוכים הבאים לתוכנית.", "היום נתקן אופניים ישנים."],
    "ar": ["مرحبا بالجميع في البرنامج.", "اليوم سنصلح دراجة قديمة."],
    "ja": ["こんにちは、今日は自転車を修理します。", "犬が郵便屋さんに吠えています。"],
    "zh": ["大家早上好，欢迎收看节目。", "今天我们要修理一辆旧自行车。"],
    "zh-tw": ["大家早安，歡迎收看節目。", "今天我們要修理一輛舊腳踏車。"],
    "ko": ["안녕하세요, 프로그램에 오신 것을 환영합니다.", "오늘은 오래된 자전거를 고칩니다."],
}


def srt(lines: list[str]) -> str:
    blocks = [
        f"{i + 1}\n00:00:{2 * i + 1:02d},000 --> 00:00:{2 * i + 2:02d},500\n{t}\n"
        for i, t in enumerate(lines)
    ]
    return "\n".join(blocks) + "\n"


BOMS = {
    "utf-8-bom": ("utf-8", codecs.BOM_UTF8),
    "utf-16-le-bom": ("utf-16-le", codecs.BOM_UTF16_LE),
    "utf-16-be-bom": ("utf-16-be", codecs.BOM_UTF16_BE),
    "utf-32-le-bom": ("utf-32-le", codecs.BOM_UTF32_LE),
}


def encoded(text: str, encoding: str) -> bytes:
    """``text`` as a file written in ``encoding``; the ``-bom`` ones start with the byte-order mark."""
    if encoding in BOMS:
        codec, bom = BOMS[encoding]
        return bom + text.encode(codec)
    return text.encode(encoding)


CORPUS = [
    ("fr", "utf-8"),
    ("fr", "utf-8-bom"),
    ("fr", "utf-16-le-bom"),
    ("fr", "utf-16-be-bom"),
    ("fr", "utf-32-le-bom"),
    ("fr", "utf-16-le"),  # no byte-order mark
    ("fr", "cp1252"),
    ("de", "cp1252"),
    ("es", "cp1252"),
    ("pt", "cp1252"),
    ("it", "cp1252"),
    ("nl", "cp1252"),
    ("sv", "cp1252"),
    ("latin", "latin-1"),
    ("pl", "cp1250"),
    ("cs", "cp1250"),
    ("el", "cp1253"),
    ("ru", "cp1251"),
    ("ru", "koi8-r"),
    ("ru", "utf-16-le-bom"),
    ("he", "cp1255"),
    ("ar", "cp1256"),
    ("ja", "shift_jis"),
    ("ja", "utf-16-be-bom"),
    ("ja", "utf-16-be"),
    ("zh", "gb18030"),
    ("zh-tw", "big5"),
    ("ko", "euc-kr"),
]


@pytest.mark.parametrize(("lang", "encoding"), CORPUS)
def test_every_common_encoding_reads_back_the_right_text(tmp_path, lang, encoding):
    path = tmp_path / f"talk.{lang}.srt"
    path.write_bytes(encoded(srt(LINES[lang]), encoding))
    segments = read_subtitle_file(path)
    assert [s.text for s in segments] == LINES[lang]
    assert [(s.start, s.end) for s in segments] == [(1.0, 2.5), (3.0, 4.5)]


def test_latin_code_pages_that_read_like_cp1252_need_the_override(tmp_path):
    """Documented limit: Hungarian in cp1250 reads as cp1252 (õ for ő, û for ű); the override fixes it."""
    path = tmp_path / "hu.srt"
    lines = ["Árvíztűrő tükörfúrógép, mondta a férfi.", "Köszönöm szépen, ez minden."]
    path.write_bytes(srt(lines).encode("cp1250"))
    assert read_subtitle_file(path)[0].text == "Árvíztûrõ tükörfúrógép, mondta a férfi."
    assert [s.text for s in read_subtitle_file(path, encoding="cp1250")] == lines


def test_what_pysubs2_alone_did_with_them(tmp_path):
    """The old reader (pysubs2 with a fixed UTF-8) refused UTF-16 and every legacy code page."""
    import pysubs2

    path = tmp_path / "old.srt"
    for encoding in ("utf-16-le-bom", "cp1252", "latin-1", "shift_jis"):
        lang = {"latin-1": "latin", "shift_jis": "ja"}.get(encoding, "fr")
        path.write_bytes(encoded(srt(LINES[lang]), encoding))
        with pytest.raises(UnicodeDecodeError):
            pysubs2.load(str(path), encoding="utf-8")
        assert [s.text for s in read_subtitle_file(path)] == LINES[lang]


def test_the_encoding_override(tmp_path):
    path = tmp_path / "mac.srt"
    text = srt(["Voilà un café très naïve.", "Où est la gare ?"])
    path.write_bytes(text.encode("mac_roman"))  # a code page no detector should be trusted with
    assert [s.text for s in read_subtitle_file(path, encoding="mac_roman")] == [
        "Voilà un café très naïve.",
        "Où est la gare ?",
    ]
    path.write_bytes(encoded(text, "utf-8-bom"))  # the mark is dropped even when the user names UTF-8
    assert read_subtitle_file(path, encoding="utf-8")[0].text == "Voilà un café très naïve."
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(InputError, match=r"mac\.srt: not utf-8 text \(byte 0xe0 at offset \d+"):
        read_subtitle_file(path, encoding="utf-8")
    with pytest.raises(InputError, match="unknown subtitle encoding 'klingon'"):
        read_subtitle_file(path, encoding="klingon")
    with pytest.raises(InputError, match="not a text encoding"):
        check_encoding("base64")
    assert check_encoding("latin1") == "iso8859-1" and check_encoding("UTF8") == "utf-8"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty subtitle file"),
        (b"  \r\n\n\t", "empty subtitle file"),
        (b"\xef\xbb\xbf", "empty subtitle file"),
        (b"\xff\xfe" + b"\x00" * 3, "is not utf-16-le text"),
        (bytes(range(256)) * 8, "not a subtitle file|not text in any encoding"),
        (b"\x1a\x45\xdf\xa3" + os.urandom(4000), "not a subtitle file|not text in any encoding|unreadable"),
        (b"hello world\nthis is not a subtitle file\n", "not a subtitle file"),
        (b"1\n00:00:01,000 --> 00:00:0", "not a subtitle file"),
        (b"[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start", "not a subtitle file"),
    ],
    ids=["empty", "blank", "bom-only", "odd-utf16", "all-bytes", "mkv-header", "prose", "cut-srt", "cut-ass"],
)
def test_broken_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "broken.srt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_subtitle_file(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hello {\\i1}there{\\i0}
Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,The second line
"""


def test_a_truncated_ass_file_keeps_the_lines_it_has(tmp_path):
    path = tmp_path / "cut.ass"
    path.write_text(ASS, encoding="utf-8")
    assert [s.text for s in read_subtitle_file(path)] == ["Hello there", "The second line"]
    path.write_text(ASS[: ASS.index("The second")], encoding="utf-8")  # cut inside the last event
    assert [s.text for s in read_subtitle_file(path)] == ["Hello there"]
    path.write_text(ASS[: ASS.index("[Events]")], encoding="utf-8")  # cut before any event
    with pytest.raises(InputError, match="cut.ass: no subtitle lines"):
        read_subtitle_file(path)


def test_odd_paths(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no such subtitle file"):
        read_subtitle_file(tmp_path / "none.srt")
    (tmp_path / "dir.srt").mkdir()
    with pytest.raises(InputError, match="dir.srt: not a subtitle file"):
        read_subtitle_file(tmp_path / "dir.srt")
    big = tmp_path / "big.srt"
    big.write_text(srt(LINES["fr"]) * 50)
    monkeypatch.setattr("momentfinder.video.subtitles.MAX_SUBTITLE_BYTES", 1000)
    with pytest.raises(InputError, match="too large for a subtitle file"):
        read_subtitle_file(big)


# --- property tests of the reader ---------------------------------------------------------
SRT_LIKE = st.builds(
    lambda head, body, tail: head + body + tail,
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"1\n00:00:01,000 --> 00:00:02,000\n"]),
    st.binary(max_size=400),
    st.sampled_from([b"", b"\n\n", b"\x00", b"2\n00:00:03,000 --> 00:00:02,000\nx\n"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), SRT_LIKE))
@example(b"\xff\xfe\x00\x00")
@example(b"1\n99:99:99,999 --> 99:99:99,999\nx\n")
@example(b"[Script Info]\n[Events]\nFormat: Start\nDialogue: x\n")
def test_any_bytes_give_segments_or_an_input_error(data):
    try:
        segments = parse_subtitle_bytes(data)
    except InputError as err:
        assert "\n" not in str(err)
        return
    assert segments and all(isinstance(s, SubtitleSegment) and 0 <= s.start < s.end for s in segments)
    assert all(s.text and s.text == " ".join(s.text.split()) for s in segments)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=300).filter(lambda t: not t.startswith("\ufeff")),
    st.sampled_from(["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "utf-32-le-bom"]),
)
def test_any_text_in_a_unicode_encoding_round_trips(text, encoding):
    if encoding == "utf-8" and "\x00" in text:
        return  # without a mark, NUL bytes mean UTF-16 (and no subtitle text has NULs)
    if encoding == "utf-16-le-bom" and text.startswith("\x00"):
        # FF FE 00 00 is also the UTF-32-LE mark: read as UTF-32 when that decodes ('\x00' alone
        # is then empty text), as UTF-16 otherwise — a subtitle file never starts with U+0000
        return
    assert decode_subtitle_bytes(encoded(text, encoding))[0] == text


def test_a_utf16_le_mark_before_a_nul_is_read_as_utf32_only_when_that_decodes():
    """FF FE 00 00 opens both a UTF-32-LE file and a UTF-16-LE one whose text starts with U+0000."""
    assert decode_subtitle_bytes(b"\xff\xfe\x00\x00") == ("", "utf-32-le")
    assert decode_subtitle_bytes(encoded("a", "utf-32-le-bom")) == ("a", "utf-32-le")
    # as UTF-32 the rest would be U+00620061, beyond Unicode: so it is UTF-16
    assert decode_subtitle_bytes(encoded("\x00ab", "utf-16-le-bom")) == ("\x00ab", "utf-16-le")


LEGACY = ["cp1252", "latin-1", "cp1250", "cp1251", "shift_jis", "gb18030", "euc-kr", "big5"]
# the characters Python's codecs write but read back as another (every code point tried)
NOT_ROUND_TRIPPED = {"shift_jis": {"\u00a5", "\u203e"}}


@settings(max_examples=200, deadline=None)
@example(("shift_jis", "\u00a5 100"))
@example(("euc-kr", "\u3164"))
@given(st.sampled_from(LEGACY).flatmap(lambda enc: st.tuples(st.just(enc), st.text(max_size=200))))
def test_any_text_in_a_named_encoding_round_trips(enc_text):
    encoding, text = enc_text
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return  # not writable in that encoding
    if text.startswith("\ufeff"):
        return
    # what the codec itself reads back: the text, except for the few characters a code page maps
    # onto others (shift_jis writes "¥" as 0x5C and reads "\\"; checked over all of Unicode), or
    # bytes it cannot read back at all (euc-kr's Hangul filler): then one clear error
    try:
        expected = data.decode(encoding)
    except UnicodeDecodeError:
        with pytest.raises(InputError, match=f"not {encoding} text"):
            decode_subtitle_bytes(data, encoding)
        return
    assert decode_subtitle_bytes(data, encoding)[0] == expected
    assert expected == text or set(text) - set(expected) <= NOT_ROUND_TRIPPED.get(encoding, set()), text
    try:  # detection may guess another code page (arbitrary characters are no language)
        decode_subtitle_bytes(data)
    except InputError:
        pass


LINE_TEXT = st.text(
    alphabet=st.characters(categories=["L", "N", "Zs"], include_characters=",.!?'-€"), min_size=1, max_size=40
).filter(lambda t: t.strip() and not t.strip().isdigit())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(LINE_TEXT, min_size=1, max_size=6),
    st.sampled_from(["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"]),
)
def test_subrip_files_round_trip_in_any_unicode_encoding(lines, encoding):
    segments = parse_subtitle_bytes(encoded(srt(lines), encoding))
    assert [s.text for s in segments] == [" ".join(t.split()) for t in lines]


# --- choosing among sidecars and embedded tracks ------------------------------------------
class FakeEncoder:
    def encode(self, texts):
        return np.ones((len(texts), 4)) / 2.0


def channel() -> SubtitleChannel:
    return SubtitleChannel(lambda: FakeEncoder())


def media(path, **options) -> Media:
    info = probe(str(path))
    return Media(info, Timeline.covering(info.duration, 2.0), **options)


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> str:
    """6 s, 64×48 @ 5 fps, no subtitles."""
    path = str(tmp_path_factory.mktemp("subs") / "small.mp4")
    return write_sample_video(path, [Scene(3, (200, 30, 30)), Scene(3, (30, 30, 200))], size=(64, 48), fps=5)


ENGLISH = ["the dog barks at the postman", "it starts to rain outside"]
FRENCH = ["le chien aboie après le facteur", "il commence à pleuvoir dehors"]


@pytest.fixture(scope="module")
def two_tracks(small_video, tmp_path_factory) -> str:
    """``small_video`` with two embedded SubRip tracks: 0 English, 1 French (written in cp1252)."""
    import shutil

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (make test installs it in CI)")
    folder = tmp_path_factory.mktemp("tracks")
    (folder / "en.srt").write_text(srt(ENGLISH), encoding="utf-8")
    (folder / "fr.srt").write_text(srt(FRENCH), encoding="utf-8")
    out = str(folder / "tracks.mkv")
    cmd = [ffmpeg, "-loglevel", "error", "-y", "-i", small_video, "-i", str(folder / "en.srt")]
    cmd += ["-i", str(folder / "fr.srt"), "-map", "0:v", "-map", "1", "-map", "2", "-c:v", "copy"]
    cmd += ["-c:s", "srt", "-metadata:s:s:0", "language=eng", "-metadata:s:s:1", "language=fra", out]
    subprocess.run(cmd, check=True)
    return out


def copy_video(video: str, folder) -> str:
    import shutil

    return shutil.copy(video, folder)


def test_a_broken_automatic_sidecar_is_a_note_not_a_failure(small_video, tmp_path):
    video = copy_video(small_video, tmp_path)
    sidecar = tmp_path / "small.srt"
    sidecar.write_bytes(os.urandom(3000))
    with pytest.raises(ChannelUnavailable, match=r"small\.srt: .*; skipped"):
        channel().extract(media(video))
    # with a good tagged sidecar beside it, that one is used and the broken one is a note
    (tmp_path / "small.en.srt").write_text(srt(ENGLISH), encoding="cp1252")
    track = channel().extract(media(video))
    assert track.source.endswith("small.en.srt") and [s.text for s in track.segments] == ENGLISH
    assert len(track.notes) == 1 and "small.srt" in track.notes[0] and "using" in track.notes[0]
    # named by the user, the same file is an error
    with pytest.raises(InputError, match=r"small\.srt: not"):
        channel().check(media(video, subtitle_file=str(sidecar)))
    # empty, and lines that all start after the video's end
    sidecar.write_bytes(b"")
    assert "empty subtitle file; skipped" in channel().extract(media(video)).notes[0]
    late = tmp_path / "late.srt"
    late.write_text("1\n00:10:00,000 --> 00:10:02,000\nmuch later\n")
    with pytest.raises(InputError, match="no line starts before the end of the video"):
        channel().extract(media(video, subtitle_file=str(late)))


def test_sidecars_tagged_with_languages(small_video, tmp_path):
    video = copy_video(small_video, tmp_path)
    (tmp_path / "small.en.srt").write_text(srt(ENGLISH))
    (tmp_path / "small.fr.srt").write_bytes(srt(FRENCH).encode("cp1252"))
    (tmp_path / "small.forced.srt").write_text(srt(["[music]"]))
    assert [os.path.basename(p) for p in find_sidecars(video)] == [
        "small.en.srt",
        "small.forced.srt",
        "small.fr.srt",
    ]
    assert channel().choose(media(video, subtitle_lang="fre")).source.endswith("small.fr.srt")
    assert channel().choose(media(video, queries=("il pleut dehors",))).source.endswith("small.fr.srt")
    assert channel().choose(media(video, queries=("the dog barks",))).source.endswith("small.en.srt")
    assert channel().choose(media(video)).source.endswith("small.en.srt")  # file order without queries


def test_embedded_tracks_by_language_track_and_query(two_tracks):
    assert probe(two_tracks).subtitle_streams == 2

    def chosen(**options):
        result = channel().choose(media(two_tracks, **options))
        return result.source, [s.text for s in result.segments]

    assert chosen() == ("embedded track 0 (eng)", ENGLISH)  # no query: the first
    assert chosen(subtitle_track=1) == ("embedded track 1 (fra)", FRENCH)
    for code in ("fra", "fre", "fr", "FR-fr"):
        assert chosen(subtitle_lang=code) == ("embedded track 1 (fra)", FRENCH)
    assert chosen(subtitle_lang="en") == ("embedded track 0 (eng)", ENGLISH)
    assert chosen(queries=("le chien aboie",)) == ("embedded track 1 (fra)", FRENCH)
    assert chosen(queries=("il pleut",)) == ("embedded track 1 (fra)", FRENCH)
    assert chosen(queries=("the dog barks",)) == ("embedded track 0 (eng)", ENGLISH)
    assert chosen(queries=("1234 !!",))[0] == "embedded track 0 (eng)"  # no letters: the first


def test_picture_subtitles_are_passed_over(two_tracks, monkeypatch):
    """A PGS/VobSub stream has no text: the default choice skips it, naming it is an error."""
    from momentfinder.video.subtitles import SubtitleStream

    streams = [SubtitleStream(0, "hdmv_pgs_subtitle", "eng", bitmap=True), SubtitleStream(1, "subrip", "fra")]
    monkeypatch.setattr("momentfinder.channels.subtitles.subtitle_streams", lambda path: streams)
    assert channel().choose(media(two_tracks, queries=("the dog barks",))).source == "embedded track 1 (fra)"
    with pytest.raises(
        InputError, match=r"subtitle track 0 \(eng\) is pictures \(hdmv_pgs_subtitle\), not text"
    ):
        channel().check(media(two_tracks, subtitle_track=0))
    monkeypatch.setattr("momentfinder.channels.subtitles.subtitle_streams", lambda path: streams[:1])
    with pytest.raises(ChannelUnavailable, match="is pictures"):
        channel().extract(media(two_tracks))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"subtitle_track": 2},
            r"no subtitle track 2 \(tracks count from 0; it has: track 0 \(eng\), track 1 \(fra\)\)",
        ),
        ({"subtitle_track": -1}, "tracks count from 0"),
        (
            {"subtitle_lang": "deu"},
            r"no subtitles in language 'deu'; it has: embedded track 0 \(eng\), embedded track 1",
        ),
        ({"subtitle_lang": "xx1"}, "not an ISO 639 language code"),
        ({"subtitle_track": 0, "subtitle_lang": "fr"}, r"subtitle track 0 \(eng\) is not in language 'fr'"),
        ({"subtitle_file": "x.srt", "subtitle_track": 0}, "cannot go with a subtitle file"),
        ({"subtitle_encoding": "klingon"}, "unknown subtitle encoding"),
    ],
)
def test_options_the_video_cannot_meet_are_errors(two_tracks, options, message):
    with pytest.raises(InputError, match=message) as err:
        channel().check(media(two_tracks, **options))
    assert "\n" not in str(err.value)


def test_query_language_detection():
    assert normalize_language("eng") == "en" and normalize_language("fre") == "fr"
    assert normalize_language("pt-BR") == "pt" and normalize_language("und") is None
    assert same_language("ger", "deu") and same_language("de", "DE") and not same_language(None, None)
    queries = {
        "eng": ["a man opens the door", "it rains", "she laughs", "cooking pasta", "a chess game"],
        "fra": [
            "un homme ouvre la porte",
            "il pleut",
            "elle rit",
            "on fait cuire des pâtes",
            "une partie d'échecs",
        ],
        "ger": ["ein Mann öffnet die Tür", "es regnet", "sie lacht", "Nudeln kochen", "eine Partie Schach"],
    }
    for lang, texts in queries.items():
        for text in texts:
            assert detect_language([text], ["eng", "fra", "ger"]) == lang, text
    assert detect_language(["il pleut"], ["fra"]) is None  # nothing to choose
    assert detect_language(["il pleut"], ["fra", "fre", "und"]) is None


# --- end to end ---------------------------------------------------------------------------
def test_ground_with_a_broken_automatic_sidecar_warns_once_and_grounds(
    small_video, tiny_clip, tmp_path, capsys, monkeypatch
):
    video = copy_video(small_video, tmp_path)
    (tmp_path / "small.srt").write_bytes(b"\x00\xff garbage \x89PNG" + os.urandom(2000))
    common = ["--visual-model", tiny_clip, "--cache-dir", str(tmp_path / "cache")]
    assert main(["ground", video, "a red square", "--json", *common]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("momentfinder: warning: subtitles channel off: ")
    assert "small.srt" in warnings[0] and warnings[0].endswith("continuing with visual")
    out = json.loads(captured.out)
    assert out["channels"] == ["visual"] and out["pred_relevant_windows"] and "subtitle_source" not in out
    # named with --subtitles, the same file is one error line and exit 2, before any decoding
    from momentfinder.channels import VisualChannel

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before the subtitle options were checked")

    monkeypatch.setattr(VisualChannel, "extract", no_decoding)
    named = ["--subtitles", str(tmp_path / "small.srt"), "--no-cache"]
    assert main(["ground", video, "a red square", *named, *common]) == 2
    err = capsys.readouterr().err
    assert err.startswith("momentfinder: ") and err.count("\n") == 1 and "Traceback" not in err
    monkeypatch.undo()
    # -q silences the warning
    assert main(["ground", video, "a red square", "-q", *common]) == 0
    assert capsys.readouterr().err == ""


def test_ground_says_which_track_it_used(two_tracks, tmp_path, capsys):
    common = ["--no-visual", "--cache-dir", str(tmp_path)]
    assert main(["ground", two_tracks, "il commence à pleuvoir", "--json", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["subtitle_source"] == "embedded track 1 (fra)" and out["channels"] == ["subtitles"]
    assert main(["ground", two_tracks, "rain", "--subtitle-track", "1", *common]) == 0
    assert "; subtitles from embedded track 1 (fra)" in capsys.readouterr().out.splitlines()[1]
    assert main(["ground", two_tracks, "the dog barks", "--subtitle-lang", "eng", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["subtitle_source"] == "embedded track 0 (eng)"
    for bad in (["--subtitle-track", "7"], ["--subtitle-lang", "jpn"], ["--subtitle-encoding", "nope"]):
        assert main(["ground", two_tracks, "rain", *bad, *common]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        main(["ground", two_tracks, "rain", "--subtitle-track", "-1", *common])
    assert exc.value.code == 2 and "--subtitle-track: must be 0 or more" in capsys.readouterr().err


def test_python_api_takes_the_subtitle_options(two_tracks, tmp_path):
    sub = tmp_path / "cp1252.srt"
    sub.write_bytes(srt(["Le café coûte deux euros."]).encode("cp1252"))
    finder = MomentFinder(visual_model=None, cache_dir=str(tmp_path), progress=False, subtitle_track=1)
    assert finder.config.subtitle_track == 1
    assert finder.ground(two_tracks, "rain").subtitle_source == "embedded track 1 (fra)"
    finder = MomentFinder(
        visual_model=None, cache_dir=str(tmp_path), progress=False, subtitle_encoding="cp1252"
    )
    result = finder.ground(two_tracks, "coffee price", subtitles=sub)
    assert result.subtitle_source == str(sub) and result.to_json()["subtitle_source"] == str(sub)
    assert finder.extract(two_tracks, sub).subtitles[0].text == "Le café coûte deux euros."
