"""Dataset annotation readers: every supported format becomes a list of :class:`GroundingSample`.

Formats (``fmt``):

* ``qvhighlights`` / ``lighthouse``: one JSON object per line, ``{qid, query, duration, vid,
  relevant_windows, relevant_clip_ids?, saliency_scores?}``. The Lighthouse release of TVSum and
  YouTube Highlights has ``relevant_windows: null`` and per-clip ``label`` rows (kept as saliency).
* ``charades_sta``: the original Charades-STA text file, ``vid start end##sentence`` per line.
  It has no durations; pass ``durations`` (a mapping or a Charades CSV / JSON file) to fill them.
* ``activitynet``: the original ActivityNet Captions JSON, ``{vid: {duration, timestamps, sentences}}``.
* ``tvr``: TVR jsonl, ``{vid_name, duration, ts, desc, type, desc_id}`` (also the mTVR ``descs`` variant).

All times are seconds. A malformed record raises :class:`InputError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ..atomic import write_atomic
from ..errors import InputError
from ..types import GroundingSample

FORMATS = ("qvhighlights", "lighthouse", "charades_sta", "activitynet", "tvr")


def read_annotations(
    path: str | os.PathLike,
    fmt: str = "auto",
    durations: Mapping[str, float] | str | os.PathLike | None = None,
) -> list[GroundingSample]:
    """Read an annotation file in any supported format (``fmt="auto"`` detects it).

    ``durations`` (vid -> seconds) is only used by formats that lack durations (Charades-STA text).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"annotation file not found: {path}")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt in ("qvhighlights", "lighthouse"):
        return [_qvh_sample(rec, f"{path}:{n}") for n, rec in iter_jsonl(path)]
    if fmt == "tvr":
        return [_tvr_sample(rec, f"{path}:{n}") for n, rec in iter_jsonl(path)]
    if fmt == "charades_sta":
        return _read_charades_txt(path, _load_durations(durations))
    if fmt == "activitynet":
        return _read_activitynet_json(path)
    raise InputError(f"unknown annotation format {fmt!r}; choose one of: auto, {', '.join(FORMATS)}")


def detect_format(path: str | os.PathLike) -> str:
    """Guess the format from the extension and the first non-blank line."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return "charades_sta"
    if suffix == ".json":
        return "activitynet"
    first = next((line for line in read_text(path).splitlines() if line.strip()), "")
    try:
        rec = json.loads(first)
    except (json.JSONDecodeError, RecursionError):
        rec = None
    if isinstance(rec, dict):
        if "desc_id" in rec or "vid_name" in rec:
            return "tvr"
        if "qid" in rec:
            return "qvhighlights"
    elif "##" in first:
        return "charades_sta"
    raise InputError(f"{path}: cannot tell the annotation format; pass it explicitly ({', '.join(FORMATS)})")


def read_text(path: str | os.PathLike) -> str:
    """The whole file as UTF-8 text (a byte-order mark tolerated). A binary or non-UTF-8 file
    raises :class:`InputError` naming the file and the line of the first bad byte."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: a binary file, not an annotation file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}); save the file as UTF-8"
        ) from None


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """``(line_number, object)`` for every non-blank line of a JSON-lines file (1-based numbers)."""
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            msg = (
                f"{err.msg} at column {err.colno}"
                if isinstance(err, json.JSONDecodeError)
                else "nested too deep"
            )
            raise InputError(f"{path}:{n}: not valid JSON ({msg})") from None
        if not isinstance(rec, dict):
            raise InputError(f"{path}:{n}: expected a JSON object, got {type(rec).__name__}")
        yield n, rec


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write one JSON object per line; return the count. An unwritable path raises :class:`InputError`."""
    lines = [json.dumps(row) + "\n" for row in rows]
    try:
        write_atomic(path, "".join(lines).encode("utf-8"))
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror}") from None
    return len(lines)


def _require(rec: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in rec]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")


def _check_qid(qid, where: str) -> None:
    if isinstance(qid, bool) or not isinstance(qid, int | str):
        raise InputError(f"{where}: a query id must be an integer or a string, got {qid!r}")


def _number(value, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: {what} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise InputError(f"{where}: {what} is not finite ({value!r})")
    return x


def parse_windows(value, where: str, field: str = "relevant_windows") -> list[list[float]]:
    """Validate ``[[start, end], ...]`` (seconds): numbers, ``start <= end``, ``start >= 0``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: {field} must be a list of [start, end], got {value!r}")
    out = []
    for w in value:
        if not isinstance(w, list | tuple) or len(w) < 2:
            raise InputError(f"{where}: {field} entry {w!r} is not [start, end]")
        st, ed = _number(w[0], f"{field} start", where), _number(w[1], f"{field} end", where)
        if st < 0 or ed < st:
            raise InputError(
                f"{where}: {field} entry {list(w)} is not a valid window (need 0 <= start <= end)"
            )
        out.append([st, ed])
    return out


def _qvh_sample(rec: dict, where: str) -> GroundingSample:
    _require(rec, ("qid", "query", "vid", "duration"), where)
    _check_qid(rec["qid"], where)
    duration = _number(rec["duration"], "duration", where)
    extra = {k: v for k, v in rec.items() if k not in _QVH_KEYS}
    if "relevant_windows" not in rec:
        extra["unlabelled"] = True  # a test-split record, not a negative query
    clip_ids: list[int] = []
    scores: list[list[float]] = []
    if rec.get("relevant_clip_ids") is not None or rec.get("saliency_scores") is not None:
        clip_ids = rec.get("relevant_clip_ids") or []
        scores = rec.get("saliency_scores") or []
        if not isinstance(clip_ids, list) or not all(isinstance(c, int) and c >= 0 for c in clip_ids):
            raise InputError(f"{where}: relevant_clip_ids must be a list of clip indices")
        if not isinstance(scores, list) or len(scores) != len(clip_ids):
            raise InputError(
                f"{where}: saliency_scores has {len(scores) if isinstance(scores, list) else '?'} rows "
                f"for {len(clip_ids)} relevant_clip_ids"
            )
        scores = [_score_row(s, where) for s in scores]
    elif rec.get("label") is not None:  # TVSum / YouTube Highlights: one row of scores for every clip
        if not isinstance(rec["label"], list):
            raise InputError(f"{where}: label must be a list of per-clip scores")
        scores = [_score_row(s, where) for s in rec["label"]]
        clip_ids = list(range(len(scores)))
    return GroundingSample(
        qid=rec["qid"],
        query=str(rec["query"]),
        vid=str(rec["vid"]),
        duration=duration,
        windows=parse_windows(rec.get("relevant_windows"), where),
        saliency_clip_ids=clip_ids,
        saliency_scores=scores,
        extra=extra,
    )


_QVH_KEYS = {"qid", "query", "vid", "duration", "relevant_windows", "relevant_clip_ids", "saliency_scores"}


def _score_row(row, where: str) -> list[float]:
    if not isinstance(row, list):
        row = [row]
    return [_number(x, "saliency score", where) for x in row]


def _tvr_sample(rec: dict, where: str) -> GroundingSample:
    _require(rec, ("desc_id",), where)
    _check_qid(rec["desc_id"], where)
    if "desc" in rec:
        query = rec["desc"]
    elif isinstance(rec.get("descs"), dict) and "en" in rec["descs"]:
        query = rec["descs"]["en"]  # mTVR: English plus Chinese translations
    else:
        raise InputError(f"{where}: missing field desc")
    labelled = "ts" in rec
    if labelled:
        _require(rec, ("vid_name", "duration"), where)
    extra = {k: v for k, v in rec.items() if k not in ("desc_id", "desc", "vid_name", "duration", "ts")}
    if not labelled:
        extra["unlabelled"] = True
    ts = rec.get("ts")
    single = (
        isinstance(ts, list) and ts and not isinstance(ts[0], list)
    )  # [st, ed] rather than [[st, ed], ...]
    windows = parse_windows([ts] if single else ts, where, "ts")
    return GroundingSample(
        qid=rec["desc_id"],
        query=str(query),
        vid=str(rec.get("vid_name", "")),
        duration=_number(rec["duration"], "duration", where) if "duration" in rec else math.nan,
        windows=windows,
        extra=extra,
    )


def _read_charades_txt(path: Path, durations: Mapping[str, float]) -> list[GroundingSample]:
    out = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        head, sep, sentence = line.partition("##")
        parts = head.split()
        if not sep or len(parts) != 3 or not sentence.strip():
            raise InputError(f"{path}:{n}: expected 'vid start end##sentence', got {line[:80]!r}")
        vid = parts[0]
        try:
            st, ed = float(parts[1]), float(parts[2])
        except ValueError:
            raise InputError(f"{path}:{n}: start/end are not numbers in {head!r}") from None
        if not (math.isfinite(st) and math.isfinite(ed)):
            raise InputError(f"{path}:{n}: start/end are not finite in {head!r}")
        windows = parse_windows([[st, ed]], f"{path}:{n}", "window")
        extra = {} if vid in durations else {"duration_unknown": True}
        out.append(
            GroundingSample(
                qid=len(out),
                query=sentence.strip(),
                vid=vid,
                duration=float(durations.get(vid, math.nan)),
                windows=windows,
                extra=extra,
            )
        )
    return out


def _read_activitynet_json(path: Path) -> list[GroundingSample]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object {{video_id: {{duration, timestamps, sentences}}}}")
    out = []
    for vid, rec in data.items():
        where = f"{path} (video {vid!r})"
        if not isinstance(rec, dict):
            raise InputError(f"{where}: expected an object with duration, timestamps, sentences")
        _require(rec, ("duration", "timestamps", "sentences"), where)
        if not isinstance(rec["timestamps"], list) or not isinstance(rec["sentences"], list):
            raise InputError(f"{where}: timestamps and sentences must be lists")
        if len(rec["timestamps"]) != len(rec["sentences"]):
            raise InputError(
                f"{where}: {len(rec['timestamps'])} timestamps but {len(rec['sentences'])} sentences"
            )
        duration = _number(rec["duration"], "duration", where)
        for i, (ts, sentence) in enumerate(zip(rec["timestamps"], rec["sentences"], strict=True)):
            out.append(
                GroundingSample(
                    qid=f"{vid}_{i}",
                    query=str(sentence).strip(),
                    vid=str(vid),
                    duration=duration,
                    windows=parse_windows([ts], f"{where} sentence {i}", "timestamps"),
                )
            )
    return out


def sample_from_record(rec: dict, fmt: str = "qvhighlights", where: str = "record") -> GroundingSample:
    """One already parsed JSON record (``qvhighlights``/``lighthouse`` or ``tvr``) as a sample; ``where`` prefixes errors."""
    if fmt in ("qvhighlights", "lighthouse"):
        return _qvh_sample(rec, where)
    if fmt == "tvr":
        return _tvr_sample(rec, where)
    raise InputError(f"records of format {fmt!r} cannot be converted one by one")


def _load_durations(durations: Mapping[str, float] | str | os.PathLike | None) -> Mapping[str, float]:
    """vid -> seconds from a mapping, a JSON object file, or a Charades CSV (columns ``id``, ``length``)."""
    if durations is None:
        return {}
    if isinstance(durations, Mapping):
        return durations
    path = Path(durations)
    if not path.is_file():
        raise InputError(f"durations file not found: {path}")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
        try:
            if not reader.fieldnames or not {"id", "length"} <= set(reader.fieldnames):
                raise InputError(f"{path}: a durations CSV needs the columns 'id' and 'length'")
            return {
                row["id"]: _number(_float(row["length"]), "length", f"{path}:{reader.line_num}")
                for row in reader
            }
        except csv.Error as err:
            raise InputError(f"{path}:{reader.line_num}: not a readable CSV ({err})") from None
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: a durations JSON must be an object {{vid: seconds}}")
    return {
        k: _number(v[0] if isinstance(v, list) and v else v, "duration", f"{path} (video {k!r})")
        for k, v in data.items()
    }


def _float(text):
    """``float(text)``, or ``text`` unchanged when it is not a number (``_number`` then says so)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def _load_json(path: Path):
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except RecursionError:
        raise InputError(f"{path}: not valid JSON (nested too deep)") from None


def samples_to_records(samples: list[GroundingSample]) -> list[dict]:
    """QVHighlights-style ground-truth dicts (``relevant_windows`` etc.) for the evaluators."""
    out = []
    for s in samples:
        rec = {
            "qid": s.qid,
            "query": s.query,
            "vid": s.vid,
            "duration": s.duration,
            "relevant_windows": s.windows,
        }
        if s.saliency_clip_ids:
            rec["relevant_clip_ids"] = s.saliency_clip_ids
            rec["saliency_scores"] = s.saliency_scores
        out.append(rec)
    return out
