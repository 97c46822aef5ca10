"""Vector search at library scale: which embedded approximate-nearest-neighbour library to use.

For 10^4, 10^5 and 10^6 clip vectors (512-d float32, unit norm, from ``bench/clip_vectors.py``:
clustered by video and topic, correlated along time, anisotropic; text-like queries) and each
candidate (exact numpy brute force as the reference, sqlite-vec brute force inside SQLite, usearch
HNSW in f32/f16/i8, faiss HNSW, faiss IVF-SQ8 and IVF-PQ with re-ranking, hnswlib), it measures:

- build time (all cores), index size on disk, peak RSS of the build;
- RAM to serve: peak RSS of a fresh process that loads the saved index and answers the queries,
  less that process's RSS before loading (python + numpy + the library);
- p50/p95 single-query latency (one thread, cosine = inner product on unit vectors), k=10 and
  k=100, after a warm-up;
- recall@10 against exact search (and recall@100 for k=100).

Each (library, size) case runs in its own child processes (build, then serve), so RSS is the
case's own. The search-time knob (HNSW ``ef``, IVF ``nprobe``) is swept on all queries with batch
search and the smallest value whose recall@10 reaches 0.95 is the one timed. Then it estimates
10^7 and 10^8 clips for the quantised settings from the measured per-vector costs and latency growth.

    python bench/library_scale.py                               # 10^4, 10^5, 10^6: ~45 min on 2 cores
    python bench/library_scale.py --sizes 10000 100000 --libs usearch-f16 faiss-hnsw
    python bench/library_scale.py --report                      # print the table of the JSON again

Data, ground truth and indexes go to ``--work`` (default: a temporary folder outside the repo,
removed index by index; the 10^6 vectors take 2 GB). Results: ``bench/results/library_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from clip_vectors import DIM, ClipVectorGenerator  # noqa: E402

TARGET_RECALL = 0.95
SIZES = [10_000, 100_000, 1_000_000]
N_QUERIES = 1000
K_SWEEP = 10
EF_SWEEP = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096]
NPROBE_SWEEP = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
CHUNK = 50_000

# name -> (library, build parameters)
CASES: dict[str, tuple[str, dict]] = {
    "exact-numpy": ("exact", {}),
    "sqlite-vec": ("sqlite_vec", {}),
    "usearch-f32": ("usearch", {"dtype": "f32", "metric": "ip", "M": 16, "ef_add": 128}),
    "usearch-f16": ("usearch", {"dtype": "f16", "metric": "ip", "M": 16, "ef_add": 128}),
    "usearch-f16-m32": ("usearch", {"dtype": "f16", "metric": "ip", "M": 32, "ef_add": 200}),
    "faiss-hnsw": ("faiss_hnsw", {"M": 32, "ef_add": 80}),
    "faiss-ivf-sq8": ("faiss_ivf", {"codec": "SQ8"}),
    "faiss-ivf-pq": ("faiss_ivf", {"codec": "PQ64x4fs,Refine(SQ8)", "k_factor": 32}),
    "hnswlib": ("hnswlib", {"M": 16, "ef_add": 128}),
    "usearch-i8": ("usearch", {"dtype": "i8", "metric": "cos", "M": 16, "ef_add": 128}),
    # momentfinder's own VectorIndex (IVF-SQ8, cells retrained as it grows), default settings, no sweep
    "momentfinder": ("momentfinder", {}),
}


# ----------------------------------------------------------------------------- data


def prepare(work: str, sizes: list[int], n_queries: int) -> None:
    """``vectors.f32`` (the largest size; smaller ones are its prefixes), queries and exact top-100."""
    n_max = max(sizes)
    meta_path = os.path.join(work, "data.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    gen = ClipVectorGenerator(DIM)
    have = all(os.path.exists(os.path.join(work, f"queries_{n}.npy")) for n in sizes)
    if meta.get("n", 0) < n_max or meta.get("n_queries") != n_queries or not have:
        t0 = time.perf_counter()
        rng = np.random.default_rng(11)
        targets = {n: np.sort(rng.choice(n, n_queries, replace=False)) for n in sizes}
        wanted = np.unique(np.concatenate(list(targets.values())))
        content = {}
        done = 0
        with open(os.path.join(work, "vectors.f32"), "wb") as f:
            for v, c in gen.library(n_max):
                f.write(v.tobytes())
                inside = wanted[(wanted >= done) & (wanted < done + len(v))]
                content.update(zip(inside.tolist(), c[inside - done], strict=True))
                done += len(v)
        for n in sizes:
            rows = np.stack([content[i] for i in targets[n].tolist()])
            queries = gen.queries_from(rows, seed=n)
            np.save(os.path.join(work, f"queries_{n}.npy"), queries)
        meta = {"n": n_max, "n_queries": n_queries, "generate_s": round(time.perf_counter() - t0, 1)}
        json.dump(meta, open(meta_path, "w"))
        for n in sizes:
            gt = os.path.join(work, f"gt_{n}.npz")
            if os.path.exists(gt):
                os.unlink(gt)
        print(f"generated {n_max} vectors in {meta['generate_s']} s", file=sys.stderr)
    for n in sizes:
        gt = os.path.join(work, f"gt_{n}.npz")
        if not os.path.exists(gt):
            q = np.load(os.path.join(work, f"queries_{n}.npy"))
            ids, scores = exact_topk(work, n, q, 100)
            np.savez(gt, ids=ids, scores=scores)


def read_chunks(work: str, n: int, chunk: int = CHUNK):
    """``(start, vectors)`` of the first ``n`` vectors, read (not mapped) so RSS stays the chunk's."""
    with open(os.path.join(work, "vectors.f32"), "rb") as f:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            yield start, np.fromfile(f, dtype=np.float32, count=m * DIM).reshape(m, DIM)


def exact_topk(work: str, n: int, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for start, x in read_chunks(work, n, 100_000):
        s = q @ x.T
        s = np.concatenate([best_s, s], axis=1)
        i = np.concatenate([best_i, np.arange(start, start + len(x))[None].repeat(len(q), 0)], axis=1)
        top = np.argpartition(-s, k, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / k


# ----------------------------------------------------------------------------- adapters


class Adapter:
    """Build and save one index; load it and search. ``knob``: the search-time parameter swept."""

    knob: str | None = None

    def __init__(self, path: str, params: dict, n: int):
        self.path, self.params, self.n = path, params, n

    def build(self, work: str, threads: int) -> None:
        raise NotImplementedError

    def load(self) -> None:
        raise NotImplementedError

    def set_knob(self, value: int) -> None:
        pass

    def search(self, q: np.ndarray, k: int, threads: int = 1) -> np.ndarray:
        """ids (len(q), k) for a batch; one thread for the timed single queries."""
        raise NotImplementedError

    def disk_bytes(self) -> int:
        if os.path.isdir(self.path):
            return sum(os.path.getsize(os.path.join(self.path, f)) for f in os.listdir(self.path))
        return os.path.getsize(self.path)

    def knob_values(self) -> list[int]:
        return []


class Exact(Adapter):
    def build(self, work, threads):
        out = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=(self.n, DIM))
        for start, x in read_chunks(work, self.n):
            out[start : start + len(x)] = x
        out.flush()
        del out

    def load(self):
        self.x = np.load(self.path)  # into RAM

    def search(self, q, k, threads=1):
        s = q @ self.x.T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, top, 1), axis=1)
        return np.take_along_axis(top, order, 1)


class SqliteVec(Adapter):
    """sqlite-vec's vec0 table (brute force, float32). Through apsw: this Python's sqlite3 module is
    built without loadable extensions."""

    def _connect(self):
        import apsw
        import sqlite_vec

        con = apsw.Connection(self.path)
        con.enable_load_extension(True)
        con.load_extension(sqlite_vec.loadable_path())
        return con

    def build(self, work, threads):
        con = self._connect()
        con.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{DIM}] distance_metric=cosine)")
        for start, x in read_chunks(work, self.n, 10_000):
            with con:
                con.executemany(
                    "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
                    ((start + i, x[i].tobytes()) for i in range(len(x))),
                )
        con.close()

    def load(self):
        self.con = self._connect()

    def search(self, q, k, threads=1):
        sql = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"
        return np.array([[r[0] for r in self.con.execute(sql, (qi.tobytes(), k))] for qi in q])


class Usearch(Adapter):
    knob = "ef"

    def build(self, work, threads):
        from usearch.index import Index

        p = self.params
        index = Index(
            ndim=DIM,
            metric=p["metric"],
            dtype=p["dtype"],
            connectivity=p["M"],
            expansion_add=p["ef_add"],
        )
        for start, x in read_chunks(work, self.n):
            index.add(np.arange(start, start + len(x), dtype=np.uint64), x, threads=threads)
        index.save(self.path)

    def load(self):
        from usearch.index import Index

        self.index = Index.restore(self.path)

    def set_knob(self, value):
        self.index.expansion_search = value

    def knob_values(self):
        return EF_SWEEP

    def search(self, q, k, threads=1):
        m = self.index.search(q, k, threads=threads)
        if len(q) == 1 and not hasattr(m, "counts"):  # one query: a Matches of the found ones
            keys = np.full((1, k), -1, np.int64)
            keys[0, : len(m.keys)] = np.asarray(m.keys, dtype=np.int64)
            return keys
        keys = np.asarray(m.keys).astype(np.int64).reshape(len(q), -1)
        keys[np.arange(keys.shape[1])[None] >= np.asarray(m.counts)[:, None]] = -1
        return keys


class FaissHNSW(Adapter):
    knob = "ef"

    def build(self, work, threads):
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(DIM, self.params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.params["ef_add"]
        for _, x in read_chunks(work, self.n):
            index.add(x)
        faiss.write_index(index, self.path)

    def load(self):
        import faiss

        self.index = faiss.read_index(self.path)

    def set_knob(self, value):
        self.index.hnsw.efSearch = value

    def knob_values(self):
        return EF_SWEEP

    def search(self, q, k, threads=1):
        import faiss

        faiss.omp_set_num_threads(threads)
        return self.index.search(q, k)[1]


class FaissIVF(Adapter):
    knob = "nprobe"

    def nlist(self) -> int:
        return int(2 ** round(math.log2(2 * math.sqrt(self.n))))  # 256, 512, 2048 for 10^4..10^6

    def build(self, work, threads):
        import faiss

        faiss.omp_set_num_threads(threads)
        nlist = self.nlist()
        index = faiss.index_factory(DIM, f"IVF{nlist},{self.params['codec']}", faiss.METRIC_INNER_PRODUCT)
        n_train = min(self.n, 60 * nlist)
        rows = np.sort(np.random.default_rng(0).choice(self.n, n_train, replace=False))
        train = np.concatenate(
            [x[rows[(rows >= s) & (rows < s + len(x))] - s] for s, x in read_chunks(work, self.n)]
        )
        index.train(train)
        del train
        for _, x in read_chunks(work, self.n):
            index.add(x)
        faiss.write_index(index, self.path)

    def load(self):
        import faiss

        self.index = faiss.read_index(self.path)
        if "k_factor" in self.params:
            self.index.k_factor = self.params["k_factor"]
        self.ivf = faiss.extract_index_ivf(self.index)

    def set_knob(self, value):
        self.ivf.nprobe = value

    def knob_values(self):
        return [v for v in NPROBE_SWEEP if v <= self.ivf.nlist]

    def search(self, q, k, threads=1):
        import faiss

        faiss.omp_set_num_threads(threads)
        return self.index.search(q, k)[1]


class Hnswlib(Adapter):
    knob = "ef"

    def build(self, work, threads):
        import hnswlib

        index = hnswlib.Index(space="ip", dim=DIM)
        index.init_index(
            max_elements=self.n, ef_construction=self.params["ef_add"], M=self.params["M"], random_seed=1
        )
        for start, x in read_chunks(work, self.n):
            index.add_items(x, np.arange(start, start + len(x)), num_threads=threads)
        index.save_index(self.path)

    def load(self):
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=DIM)
        self.index.load_index(self.path)

    def set_knob(self, value):
        self.index.set_ef(value)

    def knob_values(self):
        return EF_SWEEP

    def search(self, q, k, threads=1):
        return self.index.knn_query(q, k, num_threads=threads)[0].astype(np.int64)


class MomentfinderIndex(Adapter):
    """``momentfinder.store.vector_index.VectorIndex`` as the library uses it: added video by video
    (here 50,000 clips at a time), default parameters."""

    def build(self, work, threads):
        from momentfinder.store.vector_index import VectorIndex

        index = VectorIndex(DIM)
        for start, x in read_chunks(work, self.n):
            index.add(np.arange(start, start + len(x)), x)
        index.save(self.path)

    def load(self):
        from momentfinder.store.vector_index import VectorIndex

        self.index = VectorIndex.load(self.path, DIM)

    def search(self, q, k, threads=1):
        return self.index.search(q, k)[0]


ADAPTERS = {
    "exact": Exact,
    "sqlite_vec": SqliteVec,
    "usearch": Usearch,
    "faiss_hnsw": FaissHNSW,
    "faiss_ivf": FaissIVF,
    "hnswlib": Hnswlib,
    "momentfinder": MomentfinderIndex,
}
SUFFIX = {
    "exact": ".npy",
    "sqlite_vec": ".sqlite",
    "usearch": ".usearch",
    "hnswlib": ".hnsw",
    "momentfinder": ".vidx",
}


# ----------------------------------------------------------------------------- children


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not inherit the forking parent's)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(mode: str, spec: dict) -> dict:
    lib, params, n, work, path = spec["lib"], spec["params"], spec["n"], spec["work"], spec["path"]
    adapter = ADAPTERS[lib](path, params, n)
    if mode == "build":
        base = rss_mb()
        t0 = time.perf_counter()
        adapter.build(work, threads=os.cpu_count() or 1)
        return {
            "build_s": round(time.perf_counter() - t0, 2),
            "disk_mb": round(adapter.disk_bytes() / 2**20, 1),
            "build_peak_rss_mb": round(peak_rss_mb(), 1),
            "build_rss_over_base_mb": round(peak_rss_mb() - base, 1),
        }
    q = np.load(os.path.join(work, f"queries_{n}.npy"))
    gt = np.load(os.path.join(work, f"gt_{n}.npz"))["ids"]
    base = rss_mb()
    t0 = time.perf_counter()
    adapter.load()
    out: dict = {"load_s": round(time.perf_counter() - t0, 2)}
    values = adapter.knob_values()
    chosen = None
    if values:
        sweep = []
        for v in values:
            adapter.set_knob(v)
            r = recall(adapter.search(q, K_SWEEP, threads=os.cpu_count() or 1), gt, 10)
            sweep.append([v, round(r, 4)])
            if r >= TARGET_RECALL:
                chosen = v
                break
        out["sweep"] = sweep
        if chosen is None:
            chosen = max(sweep, key=lambda s: s[1])[0]
        adapter.set_knob(chosen)
        out[adapter.knob] = chosen
    slow = lib in ("exact", "sqlite_vec")
    nq = len(q) if not slow else int(min(len(q), max(20, 3e7 / n)))
    for k in (10, 100):
        if chosen is not None and adapter.knob == "ef":
            adapter.set_knob(max(chosen, k))
        for qi in q[: min(20, nq)]:  # warm-up
            adapter.search(qi[None], k)
        times, found = [], []
        for qi in q[:nq]:
            t = time.perf_counter()
            found.append(adapter.search(qi[None], k)[0])
            times.append(time.perf_counter() - t)
        found = np.stack(found)
        out[f"k{k}"] = {
            "p50_ms": round(1000 * float(np.percentile(times, 50)), 3),
            "p95_ms": round(1000 * float(np.percentile(times, 95)), 3),
            "recall@10": round(recall(found, gt[:nq], 10), 4),
            "n_queries": nq,
        }
        if k == 100:
            out["k100"]["recall@100"] = round(recall(found, gt[:nq], 100), 4)
    out["serve_peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["serve_ram_mb"] = round(peak_rss_mb() - base, 1)
    return out


def run_child(mode: str, spec: dict, threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, json.dumps(spec)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{mode} {spec['name']} n={spec['n']} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def versions() -> dict:
    out = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count()}
    for mod in ("usearch", "faiss", "hnswlib", "sqlite_vec", "apsw"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except ImportError:
            out[mod] = None
    try:
        out["cpu"] = next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return out


def table(results: dict) -> str:
    head = (
        f"{'index':<14} {'n':>9} {'knob':>8} {'build s':>8} {'disk MB':>8} {'RAM MB':>8} "
        f"{'p50@10':>7} {'p95@10':>7} {'R@10':>6} {'p50@100':>7} {'p95@100':>7} {'R@10|100':>8} {'load':>5}"
    )
    lines = [head, "-" * len(head)]
    rows = sorted(results["cases"].values(), key=lambda r: (r["n"], list(CASES).index(r["name"])))
    for r in rows:
        if "error" in r:
            lines.append(f"{r['name']:<14} {r['n']:>9}  failed: {r['error'][:60]}")
            continue
        knob = r.get("ef", r.get("nprobe", "-"))
        knob = f"{'ef' if 'ef' in r else 'np'}={knob}" if knob != "-" else "-"
        a, b = r["k10"], r["k100"]
        lines.append(
            f"{r['name']:<14} {r['n']:>9} {knob:>8} {r['build_s']:>8.1f} {r['disk_mb']:>8.0f} "
            f"{r['serve_ram_mb']:>8.0f} {a['p50_ms']:>7.2f} {a['p95_ms']:>7.2f} {a['recall@10']:>6.3f} "
            f"{b['p50_ms']:>7.2f} {b['p95_ms']:>7.2f} {b['recall@10']:>8.3f} {r['load_s']:>5.1f}"
        )
    return "\n".join(lines)


def estimate(results: dict) -> list[dict]:
    """10^7 and 10^8 clips for the compact settings, extrapolated from the measured 10^5 and 10^6 cases.

    RAM and disk: the bytes per vector measured at 10^6 times n (both are linear in n; the IVF
    cells add ~2 sqrt(n) centroids, negligible). Latency: the p95 growth factor measured from 10^5
    to 10^6 (with each index tuned to recall@10 >= 0.95 at both sizes) applied once per further
    decade. For IVF this growth is that of the scanned fraction: the nprobe needed for the same
    recall grew about as fast as the number of cells here, so the scanned share of the library
    stayed roughly constant and latency grows almost linearly with n.
    """
    out = []
    cases = results["cases"]
    for name in ("usearch-f16", "usearch-i8", "faiss-hnsw", "faiss-ivf-sq8", "faiss-ivf-pq"):
        big, mid = cases.get(f"{name}@1000000"), cases.get(f"{name}@100000")
        if not big or not mid or "error" in big or "error" in mid:
            continue
        per_ram = big["serve_ram_mb"] / 1e6
        per_disk = big["disk_mb"] / 1e6
        growth = big["k10"]["p95_ms"] / max(mid["k10"]["p95_ms"], 1e-6)
        for n in (10**7, 10**8):
            decades = math.log10(n / 1e6)
            ram_gb = per_ram * n / 1024
            out.append(
                {
                    "index": name,
                    "n": n,
                    "ram_gb": round(ram_gb, 1),
                    "disk_gb": round(per_disk * n / 1024, 1),
                    "p95_ms_k10": round(big["k10"]["p95_ms"] * growth**decades, 1),
                    "growth_per_decade": round(growth, 2),
                    "recall@10_at_1e6": big["k10"]["recall@10"],
                    "fits_24gb_ram": ram_gb < 20,
                }
            )
    return out


def estimate_table(rows: list[dict]) -> str:
    lines = [
        f"{'index':<14} {'n':>11} {'RAM GB':>7} {'disk GB':>8} {'p95 ms':>7} {'x/decade':>8} {'R@10 1e6':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r['index']:<14} {r['n']:>11} {r['ram_gb']:>7.1f} {r['disk_gb']:>8.1f} "
            f"{r['p95_ms_k10']:>7.1f} {r['growth_per_decade']:>8.2f} {r['recall@10_at_1e6']:>8.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--libs", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--queries", type=int, default=N_QUERIES)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "momentfinder-library-scale"))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "library_scale.json"))
    ap.add_argument("--keep", action="store_true", help="keep the built indexes in --work")
    ap.add_argument("--report", action="store_true", help="print the table of --out and exit")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], json.loads(args.child[1]))))
        return
    results = json.load(open(args.out)) if os.path.exists(args.out) else {"cases": {}}
    if args.report:
        results["estimates"] = estimate(results)
        json.dump(results, open(args.out, "w"), indent=1)
        print(table(results))
        print()
        print(estimate_table(results.get("estimates", [])))
        return
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    prepare(args.work, sorted(args.sizes), args.queries)
    results["environment"] = versions()
    results["target_recall@10"] = TARGET_RECALL
    threads = os.cpu_count() or 1
    for n in sorted(args.sizes):
        for name in args.libs:
            lib, params = CASES[name]
            path = os.path.join(args.work, f"{name}_{n}{SUFFIX.get(lib, '.faiss')}")
            spec = {"name": name, "lib": lib, "params": params, "n": n, "work": args.work, "path": path}
            row = {"name": name, "n": n, "params": params, "loadavg_before": os.getloadavg()[0]}
            print(f"{name} n={n} ...", file=sys.stderr, flush=True)
            try:
                row.update(run_child("build", spec, threads))
                row.update(run_child("serve", spec, 1))
            except RuntimeError as e:
                row["error"] = str(e).strip().splitlines()[-1]
                print(e, file=sys.stderr)
            row["loadavg_after"] = os.getloadavg()[0]
            if not args.keep and os.path.exists(path):
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
            results["cases"][f"{name}@{n}"] = row
            results["estimates"] = estimate(results)
            json.dump(results, open(args.out, "w"), indent=1)
            print(table({"cases": {"x": row}}).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(results))
    print()
    print(estimate_table(results["estimates"]))


if __name__ == "__main__":
    main()
