"""Synthetic clip vectors that look like a video library's CLIP features, and text-like queries.

Why not i.i.d. Gaussian vectors: in 512 dimensions they are all nearly orthogonal, every point is
about as far from a query as every other, and the "nearest" neighbours are barely nearer than the
rest, which makes approximate search look much harder than on real data (and exact search pointless),
while a handful of tight clusters makes it look trivially easy. Real clip features are neither:

- **anisotropic**: CLIP image embeddings share a large common component (two unrelated frames have a
  cosine of ~0.4-0.6) and their variance is concentrated in a few dozen directions (a decaying
  spectrum), so the intrinsic dimension is far below 512;
- **grouped by video and topic**: the clips of one video share its setting (a video direction) and
  its subjects (a mixture of 1-3 of ``n_topics`` topic directions shared across the library: many
  cooking videos, many football matches);
- **correlated along time**: a video is a sequence of shots (geometric lengths, mean 8 clips of
  2 s); clips of one shot share a shot direction, within it the picture drifts slowly (an AR(1)
  process, ``rho = 0.9``) and jitters a little from clip to clip.

Every random direction is drawn through the same decaying spectrum (standard deviation
``(i + 1) ** -0.35`` in a random rotation). Video lengths are log-normal (median 150 clips = 5
minutes at 2 s), so 10^6 clips are ~3,400 videos. A size-``n`` library is the first ``n`` clips of
the stream, so 10^4, 10^5 and 10^6 nest. Measured on 20,000 clips: two random clips have a cosine
of 0.47 (5-95 %: 0.36-0.57), consecutive clips 0.93; the first 10 / 50 / 100 principal
components hold 45 / 77 / 85 % of the variance.

Queries imitate text queries (CLIP ViT-B/32 sentences against frames): a shared "text" direction
(the modality gap, orthogonal to the image mean) plus a little of the image mean plus a noisy
glimpse of one real clip's content (the content noise is twice the content: a sentence says much
less than a frame shows). Two queries have a cosine of ~0.64, a query's best clip ~0.41, the
median clip ~0.19, and the clip it was made from is typically among its top 10 but rarely first.
Queries outside the cloud of clip vectors are the known hard case of graph indexes (HNSW), and
queries drawn from the indexed vectors would flatter them; an earlier version of this generator
with a stronger modality gap (two queries at cosine 0.88, best clip at 0.20) made HNSW need a
search beam of 2,048 for recall@10 0.95 at 10^5 clips while IVF was unaffected.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

DIM = 512
RHO = 0.9  # AR(1) coefficient of the drift from one clip to the next
SPECTRUM = 0.35  # direction i has a standard deviation ~ (i + 1) ** -SPECTRUM


class ClipVectorGenerator:
    def __init__(self, dim: int = DIM, n_topics: int = 300, seed: int = 0):
        self.dim = dim
        rng = np.random.default_rng(seed)
        self.rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
        self.spectrum = ((np.arange(dim) + 1.0) ** -SPECTRUM).astype(np.float32)
        self.mean = self._unit(self.directions(rng, 1))[0]
        text = self.directions(rng, 1)[0]
        self.text = self._unit(text - (text @ self.mean) * self.mean)  # the modality gap, across the mean
        self.topics = self._unit(self.directions(rng, n_topics))
        self.seed = seed

    def directions(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.dim), dtype=np.float32) * self.spectrum
        return z @ self.rotation

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    def video(self, rng: np.random.Generator, n_clips: int) -> tuple[np.ndarray, np.ndarray]:
        """``(content (n_clips, dim), vectors (n_clips, dim))``: the mean-free content and the unit clips."""
        k = int(rng.integers(1, 4))
        weights = rng.dirichlet(np.ones(k))
        topic = weights @ self.topics[rng.choice(len(self.topics), k, replace=False)]
        setting = self._unit(self.directions(rng, 1))[0]
        # shots: geometric lengths, each its own direction
        shot_of = np.cumsum(rng.random(n_clips) < 1 / 8) if n_clips else np.zeros(0, int)
        shots = self._unit(self.directions(rng, int(shot_of.max(initial=0)) + 1))[shot_of]
        # slow drift within the video: AR(1) over clips
        eps = self._unit(self.directions(rng, n_clips))
        drift = lfilter([np.sqrt(1 - RHO**2)], [1, -RHO], eps, axis=0).astype(np.float32)
        if n_clips:
            drift[0] = eps[0]
        jitter = self._unit(self.directions(rng, n_clips))  # what changes from one clip to the next
        content = 1.0 * topic + 0.7 * setting + 0.6 * shots + 0.5 * drift + 0.4 * jitter
        vectors = self._unit(1.3 * self.mean + content)
        return content.astype(np.float32), vectors

    def library(self, n: int, chunk_videos: int = 200):
        """Yield ``(vectors, content)`` chunks of whole videos until ``n`` clips (the last one cut)."""
        rng = np.random.default_rng(self.seed + 1)
        done = 0
        while done < n:
            vecs, conts = [], []
            for _ in range(chunk_videos):
                length = int(np.clip(rng.lognormal(np.log(150), 0.8), 10, 5000))
                c, v = self.video(rng, length)
                vecs.append(v)
                conts.append(c)
            v = np.concatenate(vecs)[: n - done]
            c = np.concatenate(conts)[: n - done]
            done += len(v)
            yield v, c

    def queries(self, content: np.ndarray, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
        """``n`` text-like unit queries about random clips of ``content``; returns (queries, targets)."""
        targets = np.random.default_rng(seed).choice(len(content), n, replace=False)
        return self.queries_from(content[targets], seed), targets

    def queries_from(self, c: np.ndarray, seed: int = 7) -> np.ndarray:
        """A text-like unit query about each clip content of ``c``."""
        rng = np.random.default_rng(seed)
        noise = self._unit(self.directions(rng, len(c))) * np.linalg.norm(c, axis=1, keepdims=True)
        about = self._unit(c + 2.0 * noise)  # a sentence says much less than a frame shows
        return self._unit(0.75 * self.text + 0.25 * self.mean + 0.6 * about)
