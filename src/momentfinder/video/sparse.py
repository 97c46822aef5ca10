"""Exact sparse decoding: the frames that decoding every frame would sample, decoding only what
they depend on.

The reference sampler (``decode="all"``) decodes every frame and takes, for each sampling time,
the frame nearest to it. Which frame that is depends only on the frames' presentation times, and
a demuxer reads those from the container without decoding anything. So:

1. **plan** (:func:`scan_packets`, :func:`select_frames`): read every video packet's timestamp
   and its NAL unit headers (H.264: whether other frames may reference it, ``nal_ref_idc``;
   HEVC: a sub-layer non-reference picture of the highest temporal sub-layer, which no picture
   references; both: whether it is an IDR picture, after which nothing refers to earlier
   frames); pick each target's frame exactly as the reference does;
2. **decode** (:func:`iter_planned_frames`): send the decoder only the packets the picked frames
   depend on: the picked frames themselves and the reference pictures between the last IDR
   before each and it. Non-reference frames that are not picked, and everything after the last
   picked frame of a closed group of pictures up to the next IDR, never reach the decoder. A
   dropped non-reference frame changes no other frame, and an IDR starts from nothing, so every
   decoded picture is bit-identical to the reference path's;
3. **stand in** (H.264, :func:`standin_packets`): of those reference pictures, the ones no picked
   frame depends on, directly or through other pictures, are found from slice headers
   (:mod:`momentfinder.video.h264_refs` replays the reference lists and marking a decoder
   builds) and replaced by an all-skip picture with the same frame number, order count and
   reference marking: the decoder's reference state stays exactly as it was, at the cost of
   a frame copy instead of a decode (the reference B-pictures of a B-pyramid, mostly). Simply
   dropping them would not do: FFmpeg fills the frame-number gap with invented pictures that
   change the later B-pictures' reference lists.

Nothing is guessed: a file this cannot plan (not H.264 or HEVC, layered HEVC, packets without timestamps or with
repeated ones, parameter sets outside keyframes, a demuxer error, a stream that ends before its
stated duration) raises :class:`Unplannable` before any frame is produced, and a decoder that
does not hand back exactly the planned frames (damaged data) raises it while decoding; the caller
then samples with the reference path (:func:`momentfinder.video.decode.iter_clip_frames` does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from .h264_refs import ReferencePlanner, avcc_parameter_sets
from .h264_syntax import Unsupported

log = logging.getLogger(__name__)

# H.264 NAL unit types (ITU-T H.264 table 7-1)
_SLICE_TYPES = frozenset((1, 2, 3, 4, 5))  # coded slices (5: of an IDR picture)
_IDR = 5
_PARAMETER_SETS = frozenset((7, 8, 13, 15))  # SPS, PPS, SPS extension, subset SPS
# HEVC NAL unit types (ITU-T H.265 table 7-1)
_HEVC_VCL_MAX = 31  # 0-31: coded slices (and reserved slice types)
_HEVC_SUBLAYER_NONREF = frozenset((0, 2, 4, 6, 8, 10, 12, 14))  # TRAIL_N, TSA_N, ... RSV_VCL_N14
_HEVC_IDR = frozenset((19, 20))  # IDR_W_RADL, IDR_N_LP
_HEVC_PARAMETER_SETS = frozenset((32, 33, 34))  # VPS, SPS, PPS


class Unplannable(Exception):
    """This file (or this stretch of it) cannot be decoded sparsely; ``reason`` says why."""


@dataclass
class PacketTable:
    """The video packets of a file in demux order: presentation timestamps (``pts``, stream time
    base) and what decoding them depends on."""

    pts: np.ndarray  # int64
    ref: np.ndarray  # bool: another frame may reference this one (unknown counts as True)
    idr: np.ndarray  # bool: decoding can start here (an IDR picture)
    shown: np.ndarray  # bool: the decoder outputs this frame (not discarded by an edit list)
    time_base: Fraction
    # H.264: which pictures each packet's picture may reference, and stand-ins for reference
    # pictures (None when the stream's syntax is outside what the model reads)
    references: ReferencePlanner | None = None

    def __len__(self) -> int:
        return len(self.pts)

    def times(self, pts: np.ndarray) -> np.ndarray:
        """Seconds as PyAV's ``Frame.time`` computes them (the same float operations)."""
        return pts.astype(np.float64) * self.time_base.numerator / self.time_base.denominator


def _h264_layout(extradata: bytes | None) -> int:
    """The NAL length-prefix size of avcC (MP4/MKV) H.264, or 0 for Annex B start codes."""
    if extradata and len(extradata) >= 7 and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    return 0


def _hevc_layout(extradata: bytes | None) -> int:
    """The NAL length-prefix size of hvcC (MP4/MKV) HEVC, or 0 for Annex B start codes."""
    if extradata and len(extradata) >= 23 and extradata[0] == 1:
        return (extradata[21] & 3) + 1
    return 0


def _nal_units(data: memoryview, length_size: int, size: int = 1) -> Iterator[memoryview]:
    """Every NAL unit of one packet, whole (each at least ``size`` bytes, its header)."""
    end = len(data)
    if length_size:
        pos = 0
        while pos + length_size < end:
            length = int.from_bytes(data[pos : pos + length_size], "big")
            if length < size or pos + length_size + length > end:
                raise Unplannable("malformed NAL unit length")
            yield data[pos + length_size : pos + length_size + length]
            pos += length_size + length
        return
    raw = bytes(data)
    pos = raw.find(b"\x00\x00\x01")
    while pos >= 0 and pos + 2 + size < end:
        nxt = raw.find(b"\x00\x00\x01", pos + 3)
        unit = data[pos + 3 : nxt if nxt >= 0 else end]
        if len(unit) >= size:  # two start codes in a row hold no unit
            yield unit
        pos = nxt


def _nal_headers(data: memoryview, length_size: int, size: int = 1) -> Iterator[int | bytes]:
    """The first byte of every NAL unit in one packet (``size`` 2: the first two bytes, HEVC's header)."""
    for unit in _nal_units(data, length_size, size):
        yield unit[0] if size == 1 else bytes(unit[:size])


def _classify(data: memoryview, length_size: int, keyframe: bool) -> tuple[bool, bool]:
    """``(ref, idr)`` of one H.264 access unit from its NAL headers."""
    return _classify_units(list(_nal_units(data, length_size)), keyframe)


def _classify_units(units: list[memoryview], keyframe: bool) -> tuple[bool, bool]:
    ref = idr = has_slice = False
    for unit in units:
        header = unit[0]
        kind = header & 0x1F
        if kind in _SLICE_TYPES:
            has_slice = True
            ref = ref or bool(header & 0x60)
            idr = idr or kind == _IDR
        elif kind in _PARAMETER_SETS and not keyframe:
            # new parameter sets mid-stream: dropping this packet could change later pictures
            raise Unplannable("parameter sets outside keyframes")
    if not has_slice:
        return True, False  # no picture data we understand: keep it
    return ref, idr


def _classify_hevc(data: memoryview, length_size: int, keyframe: bool) -> tuple[bool, bool, int]:
    """``(sub-layer non-reference, idr, temporal id)`` of one HEVC access unit from its NAL headers
    (a picture with no slice we understand counts as a reference picture)."""
    nonref, idr, has_slice, tid = True, False, False, 0
    for b0, b1 in _nal_headers(data, length_size, size=2):
        kind, layer = (b0 >> 1) & 0x3F, ((b0 & 1) << 5) | (b1 >> 3)
        if layer:
            raise Unplannable("layered HEVC (more than one layer)")
        if kind <= _HEVC_VCL_MAX:
            has_slice = True
            nonref = nonref and kind in _HEVC_SUBLAYER_NONREF
            idr = idr or kind in _HEVC_IDR
            tid = max(tid, (b1 & 7) - 1)
        elif kind in _HEVC_PARAMETER_SETS and not keyframe:
            raise Unplannable("parameter sets outside keyframes")
    if not has_slice:
        return False, False, 0
    return nonref, idr, tid


def scan_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> PacketTable:
    """Demux every packet of ``stream`` (no decoding) into a :class:`PacketTable`.

    Raises :class:`Unplannable` when the codec is not H.264 or HEVC or the packets cannot be
    planned on.
    """
    codec = stream.codec_context.name
    if codec not in ("h264", "hevc"):
        raise Unplannable(f"codec {codec} (sparse decoding knows H.264 and HEVC)")
    hevc = codec == "hevc"
    extradata = stream.codec_context.extradata
    length_size = _hevc_layout(extradata) if hevc else _h264_layout(extradata)
    pts: list[int] = []
    ref: list[bool] = []
    idr: list[bool] = []
    shown: list[bool] = []
    planner = None if hevc else _reference_planner(extradata, length_size)
    top_layer: list[bool] = []  # HEVC: a sub-layer non-reference picture, and its temporal id
    tids: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is None:
                raise Unplannable("packets without timestamps")
            if packet.is_corrupt:
                raise Unplannable("damaged packets")
            if hevc:  # which pictures are references is decided below, once all temporal ids are known
                nonref, i, tid = _classify_hevc(memoryview(packet), length_size, packet.is_keyframe)
                top_layer.append(nonref)
                tids.append(tid)
            else:
                units = list(_nal_units(memoryview(packet), length_size))
                r, i = _classify_units(units, packet.is_keyframe)
                ref.append(r and not packet.is_disposable)
                planner = _plan_references(planner, units)
            pts.append(packet.pts)
            idr.append(i)
            shown.append(not packet.is_discard)
    except av.FFmpegError as err:
        raise Unplannable(f"demuxer error ({err})") from None
    if not pts:
        raise Unplannable("no video packets")
    if hevc:
        # a sub-layer non-reference picture may still be referenced by pictures of higher temporal
        # sub-layers; of the highest one present, by none (H.265 3.132, 8.3.2). The container's
        # "disposable" flag is not trusted here: MP4 muxers set it from the NAL type alone.
        ref = (~(np.asarray(top_layer) & (np.asarray(tids) == max(tids)))).tolist()
    table = PacketTable(
        pts=np.asarray(pts, dtype=np.int64),
        ref=np.asarray(ref, dtype=bool),
        idr=np.asarray(idr, dtype=bool),
        shown=np.asarray(shown, dtype=bool),
        time_base=stream.time_base,
        references=planner,
    )
    if len(np.unique(table.pts)) != len(table):
        raise Unplannable("repeated timestamps")
    if not table.idr[0]:
        raise Unplannable("the stream does not start with an IDR picture")
    return table


def _reference_planner(extradata: bytes | None, length_size: int) -> ReferencePlanner | None:
    try:
        return ReferencePlanner(avcc_parameter_sets(extradata), length_size)
    except Unsupported as why:
        log.debug("references not modelled: %s", why)
        return None


def _plan_references(planner: ReferencePlanner | None, units: list[memoryview]) -> ReferencePlanner | None:
    """``planner`` advanced past one packet, or None from the first packet it cannot model on."""
    if planner is None:
        return None
    try:
        planner.packet(units)
        return planner
    except (Unsupported, IndexError, KeyError, ValueError) as why:  # damaged headers too
        log.debug("references not modelled: %s", why)
        return None


def longest_gap(table: PacketTable) -> float:
    """The longest time between two shown frames, seconds (a long one may be lost data: the
    Matroska demuxer skips a damaged cluster without an error)."""
    times = np.sort(table.times(table.pts[table.shown]))
    return float(np.max(np.diff(times))) if len(times) > 1 else 0.0


def select_frames(table: PacketTable, targets: np.ndarray) -> np.ndarray:
    """For each target time (absolute seconds, ascending), the packet index of the frame the
    reference sampler picks: the first shown frame at or after the target, unless the one before
    it is strictly nearer; the last frame for targets past the end."""
    order = np.flatnonzero(table.shown)
    order = order[np.argsort(table.pts[order], kind="stable")]
    times = table.times(table.pts[order])
    if len(times) == 0:
        raise Unplannable("no shown frames")
    k = np.searchsorted(times, targets, side="left")  # first frame with t >= target
    picks = np.minimum(k, len(times) - 1)
    inner = (k > 0) & (k < len(times))
    before = np.where(inner, k - 1, 0)
    nearer = inner & ((targets - times[before]) < (times[np.minimum(k, len(times) - 1)] - targets))
    picks = np.where(nearer, before, picks)
    return order[picks]


def needed_packets(table: PacketTable, picks: np.ndarray) -> np.ndarray:
    """Which packets to decode: the picked frames, and every reference picture from the last
    IDR at or before each picked frame (in decode order) up to it."""
    needed = np.zeros(len(table), dtype=bool)
    if len(picks) == 0:
        return needed
    idr_at = np.flatnonzero(table.idr)
    last = np.unique(picks)
    starts = idr_at[np.searchsorted(idr_at, last, side="right") - 1]
    # mark the span [start, pick] of each picked frame; spans merge through a running count
    marks = np.zeros(len(table) + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, last + 1, -1)
    covered = np.cumsum(marks[:-1]) > 0
    needed[covered & table.ref] = True
    needed[last] = True
    needed[starts] = True
    return needed


def standin_packets(table: PacketTable, picks: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """Which of the ``needed`` packets (:func:`needed_packets`) are sent as stand-ins: H.264
    reference pictures that no picked frame depends on, directly or through other pictures
    (their reference lists, :mod:`momentfinder.video.h264_refs`). They are decoded only to keep
    the decoder's reference bookkeeping as it was; a cheap all-skip picture does that."""
    planner = table.references
    standin = np.zeros(len(table), dtype=bool)
    if planner is None or len(picks) == 0 or len(planner) != len(table):
        return standin
    possible = np.fromiter((planner.can_stand_in(i) for i in range(len(table))), dtype=bool, count=len(table))
    real = needed & ~possible
    real[picks] = True
    model = planner.model
    for p in range(int(np.flatnonzero(needed)[-1]), -1, -1):  # decode order, backwards
        if real[p]:
            real[model.refs(p)] = True
    return needed & ~real


def iter_planned_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    table: PacketTable,
    picks: np.ndarray,
    needed: np.ndarray,
    standin: np.ndarray,
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Decode the ``needed`` packets (:func:`needed_packets`), the ``standin`` ones as stand-ins
    (:func:`standin_packets`), and yield ``(target index, frame)`` for every target in order
    (a frame picked by several targets is yielded once per target).

    Raises :class:`Unplannable` when the file does not hold what the plan read (damaged data,
    a decoder error, a planned frame that never comes out).

    The decoder (not yet opened) is opened here with decoding errors raised instead of concealed
    (damaged data ends the plan; the caller decodes the rest like the reference path, which
    conceals) and with the options the stand-ins need
    (:attr:`~momentfinder.video.h264_refs.ReferencePlanner.decoder_options`).
    """
    if not needed.any():
        return
    context = stream.codec_context
    planner_options = table.references.decoder_options if standin.any() else {}
    context.options = {**context.options, "err_detect": "explode", **planner_options}
    last_needed = int(np.flatnonzero(needed)[-1])
    want = table.pts[picks]
    ti, n = 0, len(want)

    def take(frames) -> Iterator[tuple[int, av.VideoFrame]]:
        nonlocal ti
        for frame in frames:
            if frame.pts is None:
                raise Unplannable("decoded frame without a timestamp")
            if frame.is_corrupt:
                raise Unplannable("damaged data (a frame decoded with errors)")
            while ti < n and frame.pts == want[ti]:
                yield ti, frame
                ti += 1
            if ti < n and frame.pts > want[ti]:
                raise Unplannable(f"planned frame at pts {want[ti]} was not decoded")

    index = -1
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            index += 1
            if index >= len(table) or packet.pts != table.pts[index]:
                raise Unplannable("the packets differ from the planned ones")
            if standin[index]:
                yield from take(context.decode(_standin_packet(table, index, packet)))
            elif needed[index]:
                yield from take(packet.decode())
            if index >= last_needed:
                break
        yield from take(context.decode(None))  # drain the decoder's delayed frames
    except (av.FFmpegError, EOFError, ValueError) as err:
        raise Unplannable(f"decoding failed ({err})") from None
    if ti < n:
        raise Unplannable(f"{n - ti} planned frames were not decoded")


def _standin_packet(table: PacketTable, index: int, packet: av.Packet) -> av.Packet:
    data = table.references.standin(index)
    # a packet that FFmpeg allocates and owns: one made from Python bytes is freed through a
    # callback that needs the GIL, which deadlocks when a decoder thread drops it while the
    # codec context is being closed (with the GIL held) mid-stream
    stand = av.Packet(len(data))
    memoryview(stand)[:] = data
    stand.pts, stand.dts, stand.time_base = packet.pts, packet.dts, packet.time_base
    return stand
