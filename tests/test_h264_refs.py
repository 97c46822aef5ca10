"""H.264 header syntax and the reference model behind stand-in pictures (video/h264_syntax.py,
video/h264_refs.py). Pixel-level exactness on real encoder output is in test_sparse_decode.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from momentfinder.video.h264_refs import ReferenceModel, avcc_parameter_sets
from momentfinder.video.h264_syntax import (
    SLICE_B,
    SLICE_I,
    SLICE_P,
    BitReader,
    BitWriter,
    Pps,
    SliceHeader,
    Sps,
    Unsupported,
    escape,
    parse_pps,
    parse_slice_header,
    skip_slice,
    skip_slice_pps,
    unescape,
)

FIELDS = st.lists(
    st.one_of(
        st.tuples(st.just("u"), st.integers(1, 16)).flatmap(
            lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.integers(0, (1 << t[1]) - 1))
        ),
        st.tuples(st.just("ue"), st.just(0), st.integers(0, 70000)),
        st.tuples(st.just("se"), st.just(0), st.integers(-35000, 35000)),
    ),
    max_size=40,
)


@given(FIELDS)
def test_bits_written_read_back(fields):
    w = BitWriter()
    for kind, n, value in fields:
        w.u(n, value) if kind == "u" else getattr(w, kind)(value)
    r = BitReader(w.rbsp())
    assert [r.u(n) if kind == "u" else getattr(r, kind)() for kind, n, _ in fields] == [v for *_, v in fields]
    assert r.u(1) == 1  # the stop bit


@given(st.binary(max_size=200))
def test_emulation_prevention_round_trips(rbsp):
    payload = escape(rbsp)
    assert unescape(payload) == rbsp
    for start in (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02"):
        assert start not in payload


def test_reading_past_a_header_is_refused():
    with pytest.raises(Unsupported, match="past the end"):
        BitReader(b"\x01").u(9)
    with pytest.raises(Unsupported):
        BitReader(b"\x00\x00\x00\x00\x00").ue()


SPS = Sps(
    sps_id=0,
    chroma_array_type=1,
    log2_max_frame_num=4,
    poc_type=0,
    log2_max_poc_lsb=6,
    delta_pic_order_always_zero=False,
    offset_for_non_ref_pic=0,
    offset_for_top_to_bottom_field=0,
    offset_for_ref_frame=(),
    max_num_ref_frames=3,
    gaps_allowed=False,
    frame_mbs_only=True,
    width_mbs=6,
    height_mbs=4,
)
PPS = Pps(0, 0, True, False, (1, 1), True, 2, True, False)


def test_a_stand_in_slice_keeps_the_reference_bookkeeping():
    h = SliceHeader(
        nal_ref_idc=2,
        idr=False,
        first_mb=0,
        slice_type=SLICE_B,
        pps_id=0,
        frame_num=9,
        poc_lsb=37,
        num_ref_idx_active=(2, 1),
        adaptive_marking=True,
        mmco=((1, 0), (3, 2, 1), (4, 2), (6, 0)),
    )
    pps_unit = skip_slice_pps(SPS, 7, PPS)
    assert pps_unit[0] & 0x1F == 8
    standin_pps = parse_pps(unescape(pps_unit[1:]))
    assert (standin_pps.pps_id, standin_pps.cabac, standin_pps.weighted_pred) == (7, False, False)
    unit = skip_slice(h, SPS, 7, PPS)
    assert unit[0] == (2 << 5) | 1
    back = parse_slice_header(unit, {0: SPS}, {0: PPS, 7: standin_pps})
    assert (back.slice_type, back.pps_id, back.frame_num, back.poc_lsb) == (SLICE_P, 7, 9, 37)
    assert back.num_ref_idx_active == (1, 0) and back.modifications == ((), ())
    assert (back.nal_ref_idc, back.adaptive_marking, back.mmco) == (2, True, h.mmco)
    # the slice data is a skip run over the first macroblock, then the stop bit
    assert _after_marking(unit, h) == (0, 0, 1, 1, 1)
    # for a decoder that conceals (multi-slice streams): one skip run over every macroblock
    assert _after_marking(skip_slice(h, SPS, 7, PPS, whole=True), h) == (0, 0, 1, 24, 1)


def _after_marking(unit: bytes, h: SliceHeader) -> tuple[int, ...]:
    """A stand-in slice's last fields: the end of its marking operations, slice_qp_delta,
    disable_deblocking_filter_idc, mb_skip_run and the stop bit."""
    r = BitReader(unescape(unit[1:]))
    for _ in range(3):
        r.ue()
    r.u(4), r.u(6), r.u(1), r.u(1), r.u(1)
    for op in h.mmco:
        [r.ue() for _ in op]
    return r.ue(), r.se(), r.ue(), r.ue(), r.u(1)


def test_idr_and_non_reference_pictures_get_no_stand_in():
    with pytest.raises(ValueError):
        skip_slice(SliceHeader(2, True, 0, SLICE_I, 0, 0), SPS, 7, PPS)
    with pytest.raises(ValueError):
        skip_slice(SliceHeader(0, False, 0, SLICE_B, 0, 3), SPS, 7, PPS)


def test_avcc_parameter_sets():
    sps, pps = b"\x67\x64\x00\x1f", b"\x68\xee"
    record = bytes([1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 4]) + sps + bytes([1, 0, 2]) + pps
    assert avcc_parameter_sets(record) == [sps, pps]
    assert avcc_parameter_sets(b"\x00\x00\x00\x01\x67") == []  # Annex B: in-band
    with pytest.raises(Unsupported):
        avcc_parameter_sets(record[:9])


# --- the reference model on hand-made header sequences ------------------------------------------

PPS_CAVLC = Pps(0, 0, False, False, (1, 1), False, 0, True, False)


def run(pictures, sps=SPS, pps=PPS_CAVLC) -> ReferenceModel:
    model = ReferenceModel()
    for h in pictures:
        model.add([h], {0: sps}, {0: pps})
    return model


def idr() -> SliceHeader:
    return SliceHeader(3, True, 0, SLICE_I, 0, 0)


def p(frame_num, poc, active=1, ref=2, **kw) -> SliceHeader:
    return SliceHeader(
        ref, False, 0, SLICE_P, 0, frame_num, poc_lsb=poc, num_ref_idx_active=(active, 0), **kw
    )


def b(frame_num, poc, active=(1, 1), ref=0, **kw) -> SliceHeader:
    return SliceHeader(ref, False, 0, SLICE_B, 0, frame_num, poc_lsb=poc, num_ref_idx_active=active, **kw)


def test_p_slices_reference_the_latest_pictures_within_their_active_count():
    m = run([idr(), p(1, 2), p(2, 4), p(3, 6, active=2), p(4, 8, active=3), p(5, 10, active=5)])
    assert [list(m.refs(i)) for i in range(6)] == [[], [0], [1], [1, 2], [1, 2, 3], [2, 3, 4]]
    # the sliding window (3 references) dropped the IDR when picture 3 was marked, picture 1 at 4


def test_b_slices_order_by_picture_order_count():
    # decode order I0 P8 B4(ref) b2 b6, display order I0 b2 B4 b6 P8
    m = run([idr(), p(1, 16), b(2, 8, ref=2), b(3, 4), b(3, 12)])
    assert list(m.refs(2)) == [0, 1]
    assert list(m.refs(3)) == [0, 2]  # list0: nearest before (I0); list1: nearest after (B4)
    assert list(m.refs(4)) == [1, 2]


def test_equal_b_lists_swap_their_first_two_entries():
    # all references before the B picture: list1 = list0, so list1 starts with its second entry
    m = run([idr(), p(1, 2), b(2, 4, active=(1, 1))])
    assert list(m.refs(2)) == [0, 1]


def test_list_modification_moves_an_older_picture_first():
    m = run([idr(), p(1, 2), p(2, 4), p(3, 6, modifications=(((0, 1),), ()))])
    assert list(m.refs(3)) == [1]  # picNum 3 - (1 + 1) = 1 first, and one active entry: not 2


def test_memory_management_operations():
    # MMCO 1 drops picture 1 (picNum 3 - (1+1) = 1); the P after it can then only reach 2 and 3
    m = run([idr(), p(1, 2), p(2, 4), p(3, 6, adaptive_marking=True, mmco=((1, 1),)), p(4, 8, active=3)])
    assert list(m.refs(4)) == [0, 2, 3]
    # MMCO 6 keeps picture 1 as long-term 0; MMCO 2 frees it again
    m = run([idr(), p(1, 2, adaptive_marking=True, mmco=((4, 1), (6, 0))), p(2, 4), p(3, 6, active=3)])
    assert list(m.refs(3)) == [0, 1, 2]
    keep = p(1, 2, adaptive_marking=True, mmco=((4, 1), (6, 0)))
    m = run([idr(), keep, p(2, 4, adaptive_marking=True, mmco=((2, 0),)), p(3, 6, active=3)])
    assert list(m.refs(3)) == [0, 2]


def test_what_the_model_does_not_read_is_refused():
    with pytest.raises(Unsupported, match="IDR"):
        run([p(1, 2)])
    with pytest.raises(Unsupported, match="gap"):
        run([idr(), p(1, 2), p(3, 6)])
    with pytest.raises(Unsupported, match="operation 5"):
        run([idr(), p(1, 2, adaptive_marking=True, mmco=((5,),))])
    with pytest.raises(Unsupported, match="not a reference"):
        run([idr(), p(1, 2, modifications=(((0, 5),), ()))])


def test_damaged_headers_leave_the_stream_unmodelled_not_failed():
    from momentfinder.video.h264_refs import ReferencePlanner
    from momentfinder.video.sparse import _nal_units, _plan_references

    planner = ReferencePlanner([], 4)
    # a slice before any parameter set, then garbage: the planner gives up, nothing raises
    assert _plan_references(planner, [memoryview(b"\x65\x88\x84\x00")]) is None
    assert list(_nal_units(memoryview(b"\x00\x00\x01\x00\x00\x01\x65\x88"), 0)) == [b"\x65\x88"]
