"""The few H.264 syntax structures the exact sparse decoder reads and writes (ITU-T H.264 7.3):
sequence and picture parameter sets, slice headers up to the reference marking, and the
two tiny NAL units it writes itself (a CAVLC picture parameter set and an all-skip P slice).

Only headers are parsed: nothing here touches macroblock data. A stream using syntax this does
not model (interlaced coding, slice groups, redundant pictures, SP/SI slices, separate colour
planes) raises :class:`Unsupported`; the caller then falls back to decoding more.
"""

from __future__ import annotations

from dataclasses import dataclass

# profiles whose SPS carries chroma format, bit depths and scaling matrices (7.3.2.1.1)
_HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))
SLICE_P, SLICE_B, SLICE_I, SLICE_SP, SLICE_SI = 0, 1, 2, 3, 4


class Unsupported(Exception):
    """H.264 syntax outside what this module models (the message says which)."""


def unescape(nal: bytes) -> bytes:
    """The RBSP of a NAL unit payload: emulation prevention bytes (0x000003) removed."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00") if b"\x00\x00\x03" in nal else nal


def escape(rbsp: bytes) -> bytes:
    """A NAL unit payload from its RBSP: 0x03 inserted after two zero bytes before a byte <= 3."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class BitReader:
    """Big-endian bits of an RBSP: fixed-length ``u``, Exp-Golomb ``ue``/``se`` (9.1)."""

    def __init__(self, data: bytes):
        self._value = int.from_bytes(data, "big")
        self._size = len(data) * 8
        self.pos = 0

    def u(self, n: int) -> int:
        if n == 0:
            return 0
        end = self.pos + n
        if end > self._size:
            raise Unsupported("header runs past the end of its NAL unit")
        self.pos = end
        return (self._value >> (self._size - end)) & ((1 << n) - 1)

    def ue(self) -> int:
        rest = self._size - self.pos
        tail = self._value & ((1 << rest) - 1)
        zeros = rest - tail.bit_length()  # leading zero bits
        if not tail or zeros > 31:
            raise Unsupported("Exp-Golomb code longer than 32 bits or past the end of its NAL unit")
        self.pos += zeros
        return self.u(zeros + 1) - 1

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


class BitWriter:
    """The inverse of :class:`BitReader`; :meth:`rbsp` adds the stop bit and zero alignment."""

    def __init__(self) -> None:
        self._value = 0
        self._size = 0

    def u(self, n: int, value: int) -> None:
        self._value = (self._value << n) | (value & ((1 << n) - 1))
        self._size += n

    def ue(self, value: int) -> None:
        code = value + 1
        n = code.bit_length()
        self.u(n - 1, 0)
        self.u(n, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        self.u(1, 1)
        pad = -self._size % 8
        self.u(pad, 0)
        return self._value.to_bytes(self._size // 8, "big")


@dataclass(frozen=True)
class Sps:
    """What slice headers and reference handling need from a sequence parameter set."""

    sps_id: int
    chroma_array_type: int
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    delta_pic_order_always_zero: bool
    offset_for_non_ref_pic: int
    offset_for_top_to_bottom_field: int
    offset_for_ref_frame: tuple[int, ...]
    max_num_ref_frames: int
    gaps_allowed: bool
    frame_mbs_only: bool
    width_mbs: int
    height_mbs: int

    @property
    def max_frame_num(self) -> int:
        return 1 << self.log2_max_frame_num


@dataclass(frozen=True)
class Pps:
    """What slice headers and reference handling need from a picture parameter set."""

    pps_id: int
    sps_id: int
    cabac: bool
    bottom_field_pic_order_present: bool
    num_ref_idx_default: tuple[int, int]
    weighted_pred: bool
    weighted_bipred_idc: int
    deblocking_control_present: bool
    redundant_pic_cnt_present: bool


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def parse_sps(rbsp: bytes) -> Sps:
    """A sequence parameter set from its RBSP (after the one-byte NAL header)."""
    r = BitReader(rbsp)
    profile = r.u(8)
    r.u(16)  # constraint flags, level
    sps_id = r.ue()
    chroma_format, separate = 1, False
    if profile in _HIGH_PROFILES:
        chroma_format = r.ue()
        if chroma_format == 3:
            separate = bool(r.u(1))
        r.ue(), r.ue(), r.u(1)  # bit depths, transform bypass
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    if separate:
        raise Unsupported("separate colour planes")
    log2_max_frame_num = r.ue() + 4
    poc_type = r.ue()
    log2_max_poc_lsb, always_zero, non_ref, top_bottom, cycle = 0, False, 0, 0, ()
    if poc_type == 0:
        log2_max_poc_lsb = r.ue() + 4
    elif poc_type == 1:
        always_zero = bool(r.u(1))
        non_ref, top_bottom = r.se(), r.se()
        cycle = tuple(r.se() for _ in range(r.ue()))
    elif poc_type != 2:
        raise Unsupported(f"picture order count type {poc_type}")
    max_num_ref_frames = r.ue()
    gaps = bool(r.u(1))
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = bool(r.u(1))
    return Sps(
        sps_id=sps_id,
        chroma_array_type=chroma_format,
        log2_max_frame_num=log2_max_frame_num,
        poc_type=poc_type,
        log2_max_poc_lsb=log2_max_poc_lsb,
        delta_pic_order_always_zero=always_zero,
        offset_for_non_ref_pic=non_ref,
        offset_for_top_to_bottom_field=top_bottom,
        offset_for_ref_frame=cycle,
        max_num_ref_frames=max_num_ref_frames,
        gaps_allowed=gaps,
        frame_mbs_only=frame_mbs_only,
        width_mbs=width_mbs,
        height_mbs=height_units * (1 if frame_mbs_only else 2),
    )


def parse_pps(rbsp: bytes) -> Pps:
    """A picture parameter set from its RBSP (after the one-byte NAL header)."""
    r = BitReader(rbsp)
    pps_id, sps_id = r.ue(), r.ue()
    cabac = bool(r.u(1))
    bottom_present = bool(r.u(1))
    if r.ue():
        raise Unsupported("slice groups (FMO)")
    defaults = (r.ue() + 1, r.ue() + 1)
    weighted_pred = bool(r.u(1))
    bipred = r.u(2)
    r.se(), r.se(), r.se()  # pic_init_qp/qs, chroma_qp_index_offset
    deblocking = bool(r.u(1))
    r.u(1)  # constrained_intra_pred_flag
    redundant = bool(r.u(1))
    return Pps(pps_id, sps_id, cabac, bottom_present, defaults, weighted_pred, bipred, deblocking, redundant)


@dataclass(slots=True)
class SliceHeader:
    """A slice header up to (and including) its reference picture marking."""

    nal_ref_idc: int
    idr: bool
    first_mb: int
    slice_type: int  # 0 P, 1 B, 2 I (slice_type % 5)
    pps_id: int
    frame_num: int
    idr_pic_id: int = 0
    poc_lsb: int = 0
    delta_poc_bottom: int = 0
    delta_poc: tuple[int, int] = (0, 0)
    num_ref_idx_active: tuple[int, int] = (0, 0)
    # ref_pic_list_modification per list: (modification_of_pic_nums_idc, value) pairs
    modifications: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] = ((), ())
    long_term_reference: bool = False
    adaptive_marking: bool = False
    # memory_management_control_operation, then its operands (difference_of_pic_nums_minus1,
    # long_term_pic_num, long_term_frame_idx, max_long_term_frame_idx_plus1 as the op needs)
    mmco: tuple[tuple[int, ...], ...] = ()


def _modifications(r: BitReader) -> tuple[tuple[int, int], ...]:
    if not r.u(1):
        return ()
    ops = []
    while (idc := r.ue()) != 3:
        if idc > 5:
            raise Unsupported(f"modification_of_pic_nums_idc {idc}")
        ops.append((idc, r.ue()))
        if len(ops) > 64:
            raise Unsupported("too many reference list modifications")
    return tuple(ops)


def _skip_weights(r: BitReader, sps: Sps, counts: tuple[int, ...]) -> None:
    r.ue()
    if sps.chroma_array_type:
        r.ue()
    for count in counts:
        for _ in range(count):
            if r.u(1):
                r.se(), r.se()
            if sps.chroma_array_type and r.u(1):
                r.se(), r.se(), r.se(), r.se()


def parse_slice_header(nal: bytes, spss: dict[int, Sps], ppss: dict[int, Pps]) -> SliceHeader:
    """The header of a coded slice NAL unit (``nal``: the whole unit, header byte included)."""
    ref_idc, kind = (nal[0] >> 5) & 3, nal[0] & 0x1F
    r = BitReader(unescape(nal[1:]))
    first_mb = r.ue()
    slice_type = r.ue() % 5
    if slice_type in (SLICE_SP, SLICE_SI):
        raise Unsupported("SP/SI slices")
    pps_id = r.ue()
    if pps_id not in ppss or ppss[pps_id].sps_id not in spss:
        raise Unsupported(f"slice refers to unknown parameter set {pps_id}")
    pps = ppss[pps_id]
    sps = spss[pps.sps_id]
    if pps.redundant_pic_cnt_present:
        raise Unsupported("redundant pictures")
    if not sps.frame_mbs_only:
        raise Unsupported("interlaced coding tools")
    h = SliceHeader(ref_idc, kind == 5, first_mb, slice_type, pps_id, r.u(sps.log2_max_frame_num))
    if h.idr:
        h.idr_pic_id = r.ue()
    if sps.poc_type == 0:
        h.poc_lsb = r.u(sps.log2_max_poc_lsb)
        if pps.bottom_field_pic_order_present:
            h.delta_poc_bottom = r.se()
    elif sps.poc_type == 1 and not sps.delta_pic_order_always_zero:
        first = r.se()
        h.delta_poc = (first, r.se() if pps.bottom_field_pic_order_present else 0)
    if slice_type == SLICE_B:
        r.u(1)  # direct_spatial_mv_pred_flag
    active = pps.num_ref_idx_default
    if slice_type != SLICE_I and r.u(1):  # num_ref_idx_active_override_flag
        active = (r.ue() + 1, r.ue() + 1 if slice_type == SLICE_B else active[1])
    h.num_ref_idx_active = (
        active[0] if slice_type != SLICE_I else 0,
        active[1] if slice_type == SLICE_B else 0,
    )
    if max(h.num_ref_idx_active) > 32:
        raise Unsupported("more than 32 active references")
    if kind in (20, 21):
        raise Unsupported("MVC extension slices")
    lists: list[tuple[tuple[int, int], ...]] = [(), ()]
    if slice_type != SLICE_I:
        lists[0] = _modifications(r)
    if slice_type == SLICE_B:
        lists[1] = _modifications(r)
    h.modifications = (lists[0], lists[1])
    if (pps.weighted_pred and slice_type == SLICE_P) or (
        pps.weighted_bipred_idc == 1 and slice_type == SLICE_B
    ):
        _skip_weights(r, sps, h.num_ref_idx_active[: 2 if slice_type == SLICE_B else 1])
    if ref_idc:
        if h.idr:
            r.u(1)  # no_output_of_prior_pics_flag
            h.long_term_reference = bool(r.u(1))
        elif r.u(1):
            h.adaptive_marking = True
            ops = []
            while (op := r.ue()) != 0:
                if op > 6:
                    raise Unsupported(f"memory_management_control_operation {op}")
                if op in (1, 2, 4, 6):
                    ops.append((op, r.ue()))
                elif op == 3:
                    ops.append((op, r.ue(), r.ue()))
                else:
                    ops.append((op,))
                if len(ops) > 66:
                    raise Unsupported("too many memory management operations")
            h.mmco = tuple(ops)
    return h


def skip_slice_pps(sps: Sps, pps_id: int, like: Pps) -> bytes:
    """A picture parameter set NAL unit (header byte included) for :func:`skip_slice`: CAVLC, one
    default reference, no weighted prediction, deblocking control present; the picture order
    syntax of ``like`` (the stream's own PPS)."""
    w = BitWriter()
    w.ue(pps_id)
    w.ue(sps.sps_id)
    w.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    w.u(1, int(like.bottom_field_pic_order_present))
    w.ue(0)  # num_slice_groups_minus1
    w.ue(0), w.ue(0)  # num_ref_idx_l0/l1_default_active_minus1
    w.u(1, 0), w.u(2, 0)  # weighted_pred_flag, weighted_bipred_idc
    w.se(0), w.se(0), w.se(0)  # pic_init_qp/qs_minus26, chroma_qp_index_offset
    w.u(1, 1)  # deblocking_filter_control_present_flag
    w.u(1, 0), w.u(1, 0)  # constrained_intra_pred_flag, redundant_pic_cnt_present_flag
    return bytes([0x68]) + escape(w.rbsp())


def skip_slice(h: SliceHeader, sps: Sps, pps_id: int, like: Pps, whole: bool = False) -> bytes:
    """A coded slice NAL unit (header byte included) standing in for the reference picture whose
    header is ``h``: the same frame number, picture order count and reference marking, so the
    decoder's reference state after it is the same, but P_Skip macroblocks and the deblocking
    filter off. Nothing reads a stand-in's pixels (no picture decoded for real references it),
    so only its first macroblock is coded and the rest of the picture left undecoded, for a
    decoder running without error concealment (FFmpeg's ``enable_er=0``; on 720p, 0.05 ms of CPU
    per stand-in, against 0.5 ms for a whole-picture skip run and 2 ms concealed). ``whole``:
    skip every macroblock instead (a decoder that conceals: multi-slice streams, where FFmpeg
    without concealment flags every picture as damaged). ``pps_id`` names a PPS written by
    :func:`skip_slice_pps` for the same SPS."""
    if h.idr or not h.nal_ref_idc:
        raise ValueError("only a non-IDR reference picture can be stood in for")
    w = BitWriter()
    w.ue(0)  # first_mb_in_slice
    w.ue(5)  # slice_type: P, and every slice of the picture is P
    w.ue(pps_id)
    w.u(sps.log2_max_frame_num, h.frame_num)
    if sps.poc_type == 0:
        w.u(sps.log2_max_poc_lsb, h.poc_lsb)
        if like.bottom_field_pic_order_present:
            w.se(h.delta_poc_bottom)
    elif sps.poc_type == 1 and not sps.delta_pic_order_always_zero:
        w.se(h.delta_poc[0])
        if like.bottom_field_pic_order_present:
            w.se(h.delta_poc[1])
    w.u(1, 0)  # num_ref_idx_active_override_flag: the PPS default, one reference
    w.u(1, 0)  # ref_pic_list_modification_flag_l0
    w.u(1, int(h.adaptive_marking))
    if h.adaptive_marking:
        for op in h.mmco:
            for value in op:
                w.ue(value)
        w.ue(0)
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc: off
    w.ue(sps.width_mbs * sps.height_mbs if whole else 1)  # mb_skip_run, then the slice ends
    return bytes([(h.nal_ref_idc << 5) | 1]) + escape(w.rbsp())
