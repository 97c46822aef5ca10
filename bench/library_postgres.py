"""The PostgreSQL library (pgvector HNSW) at 10^4-10^5 clips: insert throughput, search latency,
recall@10 against exact brute force, filtered search, disk.

Synthetic 512-d clip vectors (clustered, like real CLIP features: videos are runs of similar
clips), 100 clips per video, written through ``PostgresCatalog.add_video`` (one transaction per
video, the HNSW index maintained as rows arrive). A throwaway server comes from ``pgserver``
unless ``--url`` names a database (it must be empty).

    python bench/library_postgres.py --clips 10000 100000 [--out bench/results/library_postgres.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from momentfinder.store.catalog import LibraryInfo, VideoFilter, VideoRow  # noqa: E402
from momentfinder.store.catalog_postgres import PostgresCatalog  # noqa: E402

DIM = 512
PER_VIDEO = 100


def synthetic(n_clips: int, seed: int = 0) -> np.ndarray:
    """Unit vectors: one random centre per video, clips near it (cosine ~0.8 to the centre)."""
    rng = np.random.default_rng(seed)
    n_videos = n_clips // PER_VIDEO
    centres = rng.standard_normal((n_videos, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((n_videos, PER_VIDEO, DIM)).astype(np.float32) * (0.75 / np.sqrt(DIM))
    x = (centres[:, None, :] + noise).reshape(-1, DIM)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def percentile_ms(times: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(times) * 1000, p)), 2)


def run(url: str, n_clips: int, n_queries: int) -> dict:
    feats = synthetic(n_clips)
    cat = PostgresCatalog(url)
    cat.set_info(LibraryInfo("bench", "synthetic", DIM, 2.0))
    t0 = time.perf_counter()
    for v in range(n_clips // PER_VIDEO):
        row = VideoRow(
            f"/bench/{'a' if v % 10 else 'b'}/{v:06d}.mp4", f"h{v}", 1, 1, PER_VIDEO * 2.0, PER_VIDEO
        )
        cat.add_video(row, feats[v * PER_VIDEO : (v + 1) * PER_VIDEO])
    insert_s = time.perf_counter() - t0
    size = cat._conn.execute(
        "SELECT pg_total_relation_size('clips'), pg_relation_size('clips_embedding_hnsw'), "
        "pg_database_size(current_database())"
    ).fetchone()

    rng = np.random.default_rng(1)
    picks = rng.choice(n_clips, n_queries, replace=False)
    queries = feats[picks] + rng.standard_normal((n_queries, DIM)).astype(np.float32) * (0.5 / np.sqrt(DIM))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(queries @ feats.T), axis=1)[:, :10]

    def measure(where=None, allowed=None):
        times, recalls = [], []
        cat.search_clips(queries[0], 10, where)  # warm the cache
        for qi, q in enumerate(queries):
            t = time.perf_counter()
            hits = cat.search_clips(q, 10, where)
            times.append(time.perf_counter() - t)
            got = {(h.video_id - 1) * PER_VIDEO + h.clip_index for h in hits}
            if allowed is None:
                want = set(truth[qi].tolist())
            else:
                scores = queries[qi] @ feats[allowed].T
                want = set(allowed[np.argsort(-scores)[:10]].tolist())
            recalls.append(len(got & want) / 10)
        return {
            "p50_ms": percentile_ms(times, 50),
            "p95_ms": percentile_ms(times, 95),
            "recall_at_10": round(float(np.mean(recalls)), 4),
        }

    out = {
        "clips": n_clips,
        "dim": DIM,
        "videos": n_clips // PER_VIDEO,
        "insert_s": round(insert_s, 1),
        "insert_clips_per_s": round(n_clips / insert_s),
        "clips_table_mb": round(size[0] / 2**20, 1),
        "hnsw_index_mb": round(size[1] / 2**20, 1),
        "database_mb": round(size[2] / 2**20, 1),
        "search": measure(),
    }
    video_ids = np.arange(n_clips) // PER_VIDEO
    tenth = np.flatnonzero(video_ids % 10 == 0)  # "/bench/b/": 10 % of the clips
    out["search_filter_10pct_exact"] = measure(VideoFilter(path_glob="/bench/b/*"), tenth)
    cat.exact_limit = 0
    out["search_filter_10pct_hnsw"] = measure(VideoFilter(path_glob="/bench/b/*"), tenth)
    cat.exact_limit = PostgresCatalog.exact_limit
    one = np.flatnonzero(video_ids == 7)
    out["search_filter_one_video"] = measure(VideoFilter(path_glob="/bench/a/000007.mp4"), one)
    t = time.perf_counter()
    cat.features(5)
    out["features_one_video_ms"] = round((time.perf_counter() - t) * 1000, 2)
    cat.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--url", help="an admin URL of a server with pgvector (default: start one with pgserver)")
    ap.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "library_postgres.json"),
    )
    args = ap.parse_args()

    handle, data_dir = None, None
    import psycopg

    if args.url:
        admin = args.url
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
        data_dir = tempfile.mkdtemp(prefix="mf-bench-pg-")
        handle = pgserver.get_server(data_dir, cleanup_mode="stop")
        admin = handle.get_uri()
    from urllib.parse import urlsplit, urlunsplit

    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cpus", "runs": []}
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            results["server"] = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        for n in args.clips:
            name = f"mf_bench_{n}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name}")
            parts = urlsplit(admin)
            url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
            res = run(url, n, args.queries)
            with psycopg.connect(url) as conn:
                res["pgvector"] = conn.execute(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
                ).fetchone()[0]
            results["runs"].append(res)
            print(json.dumps(res), flush=True)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        if handle is not None:
            handle.cleanup()
            shutil.rmtree(data_dir, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
