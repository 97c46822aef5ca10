"""Which pictures of an H.264 stream each picture may reference, from slice headers alone.

A decoded picture can only be predicted from the pictures in its slices' active reference
lists (ITU-T H.264 8.2.4): inter prediction indexes them, direct prediction reads the first
entry of list 1, implicit weights read their picture order counts. Those lists follow from the
slice headers and the reference marking of the pictures before (8.2.1 picture order counts,
8.2.5 marking: sliding window and memory management operations), all of which sit in headers.
:class:`ReferenceModel` replays that process picture by picture in decode order, as a decoder
does, without decoding any macroblock, and records for each picture the pictures it may
reference. A reference picture that no picked frame depends on, directly or through others,
then never needs its pixels: :func:`momentfinder.video.h264_syntax.skip_slice` stands in for it
with the same frame number, order count and marking, so every later picture sees the same
reference state and decodes bit-identically.

Streams outside the modelled syntax (see :mod:`momentfinder.video.h264_syntax`), frame-number
gaps, memory management operation 5 or a reference list naming a missing picture raise
:class:`Unsupported`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from .h264_syntax import (
    SLICE_B,
    SLICE_I,
    Pps,
    SliceHeader,
    Sps,
    Unsupported,
    parse_pps,
    parse_slice_header,
    parse_sps,
    skip_slice,
    skip_slice_pps,
    unescape,
)


@dataclass
class _Ref:
    """A picture marked "used for reference"."""

    index: int  # its picture index (decode order)
    frame_num: int
    poc: int
    long_term_idx: int | None = None  # None: short-term


class ReferenceModel:
    """The decoder's reference picture state, advanced one picture at a time
    (:meth:`add`); ``refs(i)`` are the pictures picture ``i`` may reference."""

    def __init__(self) -> None:
        self._refs: list[_Ref] = []
        self._max_long_term_idx: int | None = None
        self._prev_ref_frame_num = 0
        self._prev_poc = (0, 0)  # PicOrderCntMsb, pic_order_cnt_lsb of the previous reference picture
        self._prev_frame_num = 0
        self._prev_frame_num_offset = 0
        self._started = False
        self._offsets = array("q", [0])  # refs of picture i: _flat[_offsets[i]:_offsets[i + 1]]
        self._flat = array("q")
        self.references_before = array("q")  # how many pictures were marked as references before each

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def refs(self, i: int) -> array:
        return self._flat[self._offsets[i] : self._offsets[i + 1]]

    def add(self, slices: list[SliceHeader], spss: dict[int, Sps], ppss: dict[int, Pps]) -> None:
        """Advance past one packet: a picture's slice headers in order, or none (a packet
        without a picture: it references nothing and changes nothing)."""
        index = len(self)
        if not slices:
            self.references_before.append(len(self._refs))
            self._offsets.append(len(self._flat))
            return
        first = slices[0]
        pps = ppss[first.pps_id]
        sps = spss[pps.sps_id]
        if not first.idr and not self._started:
            raise Unsupported("the stream does not start with an IDR picture")
        self._started = True
        if not first.idr and first.frame_num not in (
            self._prev_ref_frame_num,
            (self._prev_ref_frame_num + 1) % sps.max_frame_num,
        ):
            raise Unsupported("a gap in frame numbers")
        poc = self._order_count(first, sps)
        self.references_before.append(len(self._refs))
        seen: set[int] = set()
        for h in slices:
            if h.slice_type != SLICE_I:
                for ref in self._lists(h, sps, poc):
                    seen.add(ref.index)
        self._flat.extend(sorted(seen))
        self._offsets.append(len(self._flat))
        if first.nal_ref_idc:
            self._mark(first, sps, index, poc)
            self._prev_ref_frame_num = first.frame_num
        self._prev_frame_num = first.frame_num

    # -- 8.2.1: picture order count -------------------------------------------------------

    def _order_count(self, h: SliceHeader, sps: Sps) -> int:
        if sps.poc_type == 0:
            prev_msb, prev_lsb = (0, 0) if h.idr else self._prev_poc
            half = 1 << (sps.log2_max_poc_lsb - 1)
            msb = prev_msb
            if h.poc_lsb < prev_lsb and prev_lsb - h.poc_lsb >= half:
                msb += 2 * half
            elif h.poc_lsb > prev_lsb and h.poc_lsb - prev_lsb > half:
                msb -= 2 * half
            if h.nal_ref_idc:
                self._prev_poc = (msb, h.poc_lsb)
            top = msb + h.poc_lsb
            return min(top, top + h.delta_poc_bottom)
        if h.idr:
            offset = 0
        elif self._prev_frame_num > h.frame_num:
            offset = self._prev_frame_num_offset + sps.max_frame_num
        else:
            offset = self._prev_frame_num_offset
        self._prev_frame_num_offset = offset
        if sps.poc_type == 2:
            if h.idr:
                return 0
            return 2 * (offset + h.frame_num) - (0 if h.nal_ref_idc else 1)
        cycle = sps.offset_for_ref_frame
        absolute = offset + h.frame_num if cycle else 0
        if not h.nal_ref_idc and absolute > 0:
            absolute -= 1
        expected = 0
        if absolute > 0:
            count, within = divmod(absolute - 1, len(cycle))
            expected = count * sum(cycle) + sum(cycle[: within + 1])
        if not h.nal_ref_idc:
            expected += sps.offset_for_non_ref_pic
        top = expected + h.delta_poc[0]
        return min(top, top + sps.offset_for_top_to_bottom_field + h.delta_poc[1])

    # -- 8.2.4: reference picture lists --------------------------------------------------

    def _pic_num(self, ref: _Ref, frame_num: int, max_frame_num: int) -> int:
        return ref.frame_num - max_frame_num if ref.frame_num > frame_num else ref.frame_num

    def _lists(self, h: SliceHeader, sps: Sps, poc: int) -> list[_Ref]:
        """The pictures in the slice's active reference lists."""
        short = [r for r in self._refs if r.long_term_idx is None]
        long = sorted((r for r in self._refs if r.long_term_idx is not None), key=lambda r: r.long_term_idx)
        if h.slice_type == SLICE_B:
            before = sorted((r for r in short if r.poc < poc), key=lambda r: -r.poc)
            after = sorted((r for r in short if r.poc > poc), key=lambda r: r.poc)
            initial = [before + after + long, after + before + long]
            if len(initial[1]) > 1 and initial[0] == initial[1]:
                initial[1][0], initial[1][1] = initial[1][1], initial[1][0]
        else:
            pic_num = lambda r: self._pic_num(r, h.frame_num, sps.max_frame_num)  # noqa: E731
            initial = [sorted(short, key=pic_num, reverse=True) + long]
        out: list[_Ref] = []
        for k, entries in enumerate(initial):
            active = h.num_ref_idx_active[k]
            entries = entries[:active]
            entries = self._modify(entries, h.modifications[k], active, h.frame_num, sps.max_frame_num)
            if not entries:
                raise Unsupported("a predicted slice with no reference picture")
            out.extend(entries)
        return out

    def _modify(
        self,
        entries: list[_Ref],
        ops: tuple[tuple[int, int], ...],
        active: int,
        frame_num: int,
        max_frame_num: int,
    ) -> list[_Ref]:
        """8.2.4.3: each operation puts one picture at the next index; its later copy goes."""
        pred = frame_num
        for at, (idc, value) in enumerate(ops):
            if idc in (0, 1):
                no_wrap = pred - (value + 1) if idc == 0 else pred + (value + 1)
                no_wrap += max_frame_num if no_wrap < 0 else -max_frame_num if no_wrap >= max_frame_num else 0
                pred = no_wrap
                num = no_wrap - max_frame_num if no_wrap > frame_num else no_wrap
                match = [
                    r
                    for r in self._refs
                    if r.long_term_idx is None and self._pic_num(r, frame_num, max_frame_num) == num
                ]
            elif idc == 2:
                match = [r for r in self._refs if r.long_term_idx == value]
            else:
                raise Unsupported(f"modification_of_pic_nums_idc {idc}")
            if not match:
                raise Unsupported("a reference list names a picture that is not a reference")
            entries = entries[:at] + [match[0]] + [r for r in entries[at:] if r is not match[0]]
            entries = entries[:active]
        return entries

    # -- 8.2.5: reference picture marking ------------------------------------------------

    def _mark(self, h: SliceHeader, sps: Sps, index: int, poc: int) -> None:
        current = _Ref(index, h.frame_num, poc)
        if h.idr:
            self._refs.clear()
            if h.long_term_reference:
                current.long_term_idx, self._max_long_term_idx = 0, 0
            else:
                self._max_long_term_idx = None
        elif h.adaptive_marking:
            for op in h.mmco:
                self._operation(op, current, sps)
        else:
            short = [r for r in self._refs if r.long_term_idx is None]
            if short and len(self._refs) >= max(sps.max_num_ref_frames, 1):
                oldest = min(short, key=lambda r: self._pic_num(r, h.frame_num, sps.max_frame_num))
                self._refs.remove(oldest)
        self._refs.append(current)
        if len(self._refs) > max(sps.max_num_ref_frames, 1):  # FFmpeg then drops one on its own
            raise Unsupported("more reference pictures than the stream declares")

    def _operation(self, op: tuple[int, ...], current: _Ref, sps: Sps) -> None:
        code = op[0]

        def short_term(difference: int) -> _Ref | None:
            num = current.frame_num - (difference + 1)
            for r in self._refs:
                if r.long_term_idx is None and self._pic_num(r, current.frame_num, sps.max_frame_num) == num:
                    return r
            return None

        def free_long_term(idx: int, keep: _Ref | None = None) -> None:
            self._refs[:] = [r for r in self._refs if r.long_term_idx != idx or r is keep]

        if code == 1:
            if (r := short_term(op[1])) is not None:
                self._refs.remove(r)
        elif code == 2:
            self._refs[:] = [r for r in self._refs if r.long_term_idx != op[1]]
        elif code == 3:
            if (r := short_term(op[1])) is not None:
                free_long_term(op[2], keep=r)
                r.long_term_idx = op[2]
        elif code == 4:
            self._max_long_term_idx = op[1] - 1 if op[1] else None
            limit = -1 if self._max_long_term_idx is None else self._max_long_term_idx
            self._refs[:] = [r for r in self._refs if r.long_term_idx is None or r.long_term_idx <= limit]
        elif code == 6:
            free_long_term(op[1])
            current.long_term_idx = op[1]
        else:
            raise Unsupported(f"memory_management_control_operation {code}")


_SPS, _PPS = 7, 8
_SLICE_KINDS = (1, 5)
_HEADER_BYTES = 40  # a slice header fits in this many bytes unless it has long lists or weight tables


def avcc_parameter_sets(extradata: bytes | None) -> list[bytes]:
    """The SPS and PPS NAL units stored in an avcC (MP4/MKV) decoder configuration record."""
    if not extradata or len(extradata) < 7 or extradata[0] != 1:
        return []
    units, pos = [], 5
    try:
        for count_mask in (0x1F, 0xFF):
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                size = int.from_bytes(extradata[pos : pos + 2], "big")
                if not size or pos + 2 + size > len(extradata):
                    raise IndexError
                units.append(bytes(extradata[pos + 2 : pos + 2 + size]))
                pos += 2 + size
    except IndexError:
        raise Unsupported("malformed avcC record") from None
    return units


class ReferencePlanner:
    """Reads a stream's packets in decode order (:meth:`packet`) and keeps, per packet, the
    pictures it may reference (``model``) and, for each non-IDR reference picture, what makes
    its stand-in packet (:meth:`standin`): a parameter set and an all-skip slice with the same reference
    bookkeeping (:func:`~momentfinder.video.h264_syntax.skip_slice`), framed like the stream's
    packets (``length_size``-byte lengths, or Annex B start codes when 0)."""

    def __init__(self, parameter_sets: list[bytes], length_size: int):
        self.model = ReferenceModel()
        # per packet: what its stand-in is made from (the picture's first slice header and the
        # parameter sets it used), or None where a packet cannot be stood in for
        self._standins: list[tuple[SliceHeader, Sps, Pps] | None] = []
        self._pps_units: dict[tuple[Sps, Pps], bytes] = {}
        self._spss: dict[int, Sps] = {}
        self._ppss: dict[int, Pps] = {}
        self._length_size = length_size
        self._standin_pps: int | None = None
        self.multi_slice = False  # a picture was coded in several slices
        for unit in parameter_sets:
            self._parameter_set(unit)

    def _parameter_set(self, unit: bytes) -> None:
        kind = unit[0] & 0x1F
        if kind == _SPS:
            sps = parse_sps(unescape(unit[1:]))
            self._spss[sps.sps_id] = sps
        elif kind == _PPS:
            pps = parse_pps(unescape(unit[1:]))
            if pps.pps_id == self._standin_pps:
                raise Unsupported("the stream uses every picture parameter set id")
            self._ppss[pps.pps_id] = pps

    def packet(self, units: list[memoryview]) -> None:
        """Advance past one packet (its NAL units in order)."""
        slices: list[SliceHeader] = []
        for unit in units:
            kind = unit[0] & 0x1F
            if kind in (_SPS, _PPS):
                self._parameter_set(bytes(unit))
            elif kind in _SLICE_KINDS:
                slices.append(self._header(unit))
        self.model.add(slices, self._spss, self._ppss)
        self.multi_slice |= len(slices) > 1
        first = slices[0] if slices else None
        if first is None or first.idr or not first.nal_ref_idc or not self.model.references_before[-1]:
            self._standins.append(None)
            return
        pps = self._ppss[first.pps_id]
        self._standins.append((first, self._spss[pps.sps_id], pps))
        if self._standin_pps is None:
            free = [i for i in range(256) if i not in self._ppss]
            if not free:
                raise Unsupported("the stream uses every picture parameter set id")
            self._standin_pps = free[-1]

    def __len__(self) -> int:
        return len(self._standins)

    @property
    def decoder_options(self) -> dict[str, str]:
        """FFmpeg decoder options for decoding with these stand-ins: no error concealment for
        one-macroblock stand-ins (:func:`~momentfinder.video.h264_syntax.skip_slice`)."""
        return {} if self.multi_slice else {"enable_er": "0"}

    def can_stand_in(self, index: int) -> bool:
        return self._standins[index] is not None

    def _header(self, unit: memoryview) -> SliceHeader:
        try:
            return parse_slice_header(bytes(unit[:_HEADER_BYTES]), self._spss, self._ppss)
        except Unsupported:
            if len(unit) <= _HEADER_BYTES:
                raise
            return parse_slice_header(bytes(unit), self._spss, self._ppss)

    def standin(self, index: int) -> bytes:
        """The stand-in packet for packet ``index`` (a non-IDR reference picture)."""
        entry = self._standins[index]
        if entry is None or self._standin_pps is None:
            raise ValueError(f"packet {index} cannot be stood in for")
        h, sps, pps = entry
        if (sps, pps) not in self._pps_units:
            self._pps_units[sps, pps] = skip_slice_pps(sps, self._standin_pps, pps)
        units = (
            self._pps_units[sps, pps],
            skip_slice(h, sps, self._standin_pps, pps, whole=self.multi_slice),
        )
        if self._length_size:
            return b"".join(len(u).to_bytes(self._length_size, "big") + u for u in units)
        return b"".join(b"\x00\x00\x00\x01" + u for u in units)
