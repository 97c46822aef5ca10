"""Zero-shot grounder: query similarity curves -> ranked moments, saliency, and a "no moment" decision.

Training-free, from one vision-language encoder. The steps, each switchable in
:class:`ZeroShotConfig` (``docs/zeroshot.md`` gives what each one is worth on the benchmark):

1. **Curves** (:mod:`.curves`). Cosine of every clip with the pooled query and with every
   sub-query. Scores use them above the null level (the cosine of the query with the calibration
   videos' mean clip) in units of each curve's clip-to-clip noise: a span's level then does not
   change with what else the video holds, so a 3-hour video and a 150 s one score a moment alike.
2. **Sub-queries** (:mod:`.curves`). A clip's level is the pooled level plus ``subquery_weight`` x
   the ``subquery_parts``-th largest sub-query level: a moment must match several parts of the
   query ("man" *and* "opens the door"), not just the strongest one. This separates the moment
   from look-alikes that share only the subject or only the action. The parts are the query's
   phrases encoded on their own (``QueryFeatures.parts``, :mod:`momentfinder.query`) when it has
   them, else its token features without the stop words (tokens that recur across the
   calibration queries, found without labels as IDF does; with ``pooled_query="content"`` the
   pooled query is then the mean of the tokens left). Query-bank normalisation: a part's
   similarity to a clip is taken relative to the clip's soft maximum similarity to the
   calibration queries' other parts, so a clip that better matches some other action or subject
   (a look-alike) no longer counts as this part.
   Corpus expansion (:func:`.curves.expand_vectors`): every query vector is mixed with its
   picture in the calibration videos (the mean of the ``corpus_top`` calibration clips most like
   it), which comes from the video encoder and so bridges the gap between the two encoders.
3. **Proposals** (:mod:`.proposals`, TAG / VTG-GPT style): runs of the smoothed, standardised
   level curve above several levels. Low levels give whole events and merge nearby runs, high
   levels give their cores and split events that touch.
4. **Scoring** (:mod:`.proposals`, TFVTG style, one span against the rest): (mean level -
   ``level_offset``) x length ** ``length_exponent``; whole events beat their noisy cores, long
   barely-relevant stretches score low. Temporal NMS keeps several ranked moments when the query
   happens more than once. Saliency is the standardised level curve, smoothed.
5. **No moment** (:mod:`.calibration`, fitted by :mod:`.fit`). Evidence = best excess of the
   pooled and of the weakest matched sub-query curve over ``evidence_level`` noise units (a
   maximum-subarray sum, scale-free). At or below the calibrated threshold the query is
   rejected: no moments, ``no_moment_score`` >= 0.5.
6. **Long videos** (:mod:`.proposals`, coarse-to-fine): beyond ``window_clips`` clips, every
   overlapping window of that size gets the evidence of its ``coarse_spans`` best disjoint
   spans plus ``coarse_peak_weight`` x its peak (the AND level smoothed by ``coarse_peak_sigma``)
   (coarse); the ``coarse_regions`` best windows are grounded like short videos (fine), and
   their moments ranked by window evidence first. Linear time in the video length.

:class:`ZeroShotGrounder` (:mod:`.grounder`) puts the steps together.
"""

from __future__ import annotations

from .calibration import (
    FORMAT_VERSION,
    NoMomentCalibration,
    calibrate_threshold,
    find_common_tokens,
    no_moment_score,
    soft_max,
)
from .config import ZeroShotConfig
from .curves import SimilarityCurves
from .fit import fit_calibration
from .grounder import ZeroShotGrounder

__all__ = [
    "FORMAT_VERSION",
    "NoMomentCalibration",
    "SimilarityCurves",
    "ZeroShotConfig",
    "ZeroShotGrounder",
    "calibrate_threshold",
    "find_common_tokens",
    "fit_calibration",
    "no_moment_score",
    "soft_max",
]
