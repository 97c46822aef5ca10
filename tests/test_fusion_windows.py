"""Channel fusion and the v1 window grounder on hand-made curves."""

from __future__ import annotations

import numpy as np
import pytest

from momentfinder.channels import (
    ChannelCurve,
    fuse_curves,
    standardize,
    subtitle_evidence_weight,
    subtitle_relevance,
)
from momentfinder.grounding import WindowGrounder, make_grounder, temporal_iou, temporal_nms
from momentfinder.types import ClipFeatures, QueryFeatures, SubtitleSegment, Timeline


def test_single_channel_passes_through_and_channels_vouch_for_moments():
    visual = np.array([0.2, 0.2, 0.9, 0.2, 0.2, 0.2])
    np.testing.assert_array_equal(fuse_curves([ChannelCurve("visual", visual)]), visual)
    subs = np.array([0.0, 0.0, 0.0, 0.0, 0.8, 0.0])
    fused = fuse_curves([ChannelCurve("visual", visual), ChannelCurve("subtitles", subs)])
    assert fused[2] > 0 and fused[4] > 0 and fused[0] == 0  # both peaks survive, below-average is no evidence
    # a zero-weight channel is ignored
    np.testing.assert_array_equal(
        fuse_curves([ChannelCurve("visual", visual), ChannelCurve("subtitles", subs, 0.0)]), visual
    )
    with pytest.raises(ValueError, match="differ in length"):
        fuse_curves([ChannelCurve("a", visual), ChannelCurve("b", subs[:3])])
    np.testing.assert_array_equal(standardize(np.ones(4)), np.zeros(4))


def test_subtitle_relevance_maps_lines_to_clips():
    segs = [SubtitleSegment(1.0, 3.0, "a"), SubtitleSegment(6.5, 7.0, "b")]
    emb = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    values = subtitle_relevance(segs, emb, np.array([0.6, 0.8], dtype=np.float32), Timeline(2.0, 8.0, 4))
    np.testing.assert_allclose(values, [0.6, 0.6, 0.0, 0.8], atol=1e-6)
    assert subtitle_evidence_weight(0.1) == 0.0 and subtitle_evidence_weight(0.9) == 1.0


def test_window_grounder_finds_the_block_and_ranks_a_second_occurrence():
    curve = np.zeros(75)
    curve[20:30] = 1.0
    curve[50:54] = 0.7
    result = WindowGrounder().ground_curve(curve, Timeline(2.0, 150.0, 75), query="q", top_k=5)
    best = result.moments[0]
    assert temporal_iou(np.array([best.start, best.end]), np.array([[40.0, 60.0]]))[0] >= 0.7
    assert any(m.start < 108 and m.end > 100 for m in result.moments[1:])  # the second, weaker occurrence
    assert all(0 <= m.start < m.end <= 150 for m in result.moments)
    assert [m.score for m in result.moments] == sorted((m.score for m in result.moments), reverse=True)
    assert result.saliency.shape == (75,) and result.saliency.max() == 1.0


def test_window_grounder_on_features_and_short_partial_last_clip():
    feats = np.zeros((5, 2), dtype=np.float32)
    feats[:, 0] = 1
    feats[4] = [0, 1]
    clips = ClipFeatures(feats, Timeline(2.0, 9.0, 5), video_id="v")
    result = make_grounder("windows").ground(
        clips, QueryFeatures("q", np.array([0, 1], dtype=np.float32)), top_k=1
    )
    assert (result.moments[0].start, result.moments[0].end) == (8.0, 9.0)  # clipped to the duration
    assert result.video == "v"


def test_temporal_nms_suppresses_overlaps():
    windows = np.array([[0, 10], [1, 10], [20, 30], [0, 9]], dtype=float)
    keep = temporal_nms(windows, np.array([0.9, 0.8, 0.7, 0.95]), iou_threshold=0.5, top_k=10)
    assert keep.tolist() == [3, 2]
    # nested windows (IoU exactly 0.5) are one moment, whichever of the two ranks first
    nested = np.array([[12.0, 16.0], [10.0, 18.0], [30.0, 34.0]])
    for scores in ([0.9, 0.8, 0.1], [0.8, 0.9, 0.1]):
        assert len(temporal_nms(nested, np.array(scores), 0.5, 10)) == 3  # IoU alone keeps both
        assert len(temporal_nms(nested, np.array(scores), 0.5, 10, max_containment=0.75)) == 2
