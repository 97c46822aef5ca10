"""``python -m momentfinder.demo``: make a sample video with subtitles and ground queries in it.

Works offline on a fresh machine: the subtitle channel uses the bundled all-MiniLM-L6-v2; the
visual channel uses the default CLIP model when it is cached or can be downloaded, and says
so when it cannot. With a real video given (``--video``), it grounds queries there too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import MomentFinderError
from .types import SubtitleSegment
from .video.sample import Scene, write_sample_video

# A two-minute "cooking show": one subtitle line per scene.
SCRIPT = [
    (0, 12, (230, 230, 230), "Welcome back to the kitchen, today we make a simple dinner."),
    (12, 30, (200, 160, 60), "First I chop the onions and the garlic on the wooden board."),
    (30, 48, (40, 90, 200), "Now the spaghetti goes into a big pot of boiling salted water."),
    (48, 66, (200, 40, 30), "Meanwhile the tomato sauce simmers slowly in the pan."),
    (66, 84, (60, 170, 70), "Let me taste it, it needs a little more basil and pepper."),
    (84, 102, (150, 150, 160), "While it cooks I wash the dishes and clean the counter."),
    (102, 120, (240, 200, 120), "Thanks for watching, see you next week for dessert!"),
]
SHARED_VIDEO = os.path.join(
    "..", "shared", "data", "univtg", "charades.mp4"
)  # a real Charades clip, if present
QUERIES = ["when is the pasta cooked in water", "the cook cleans up the kitchen"]


def make_demo_video(folder: str) -> str:
    """Write ``folder/cooking_show.mp4`` and its ``.srt``; reuse them when present."""
    path = os.path.join(folder, "cooking_show.mp4")
    if os.path.exists(path) and os.path.exists(path[:-4] + ".srt"):
        return path
    os.makedirs(folder, exist_ok=True)
    scenes = [Scene(end - start, rgb) for start, end, rgb, _ in SCRIPT]
    subtitles = [SubtitleSegment(start + 1.0, end - 1.0, text) for start, end, _, text in SCRIPT]
    return write_sample_video(path, scenes, size=(320, 180), fps=15, subtitles=subtitles)


def main(argv: list[str] | None = None) -> int:
    from .pipeline.choices import DEFAULT_VISUAL_MODEL
    from .pipeline.finder import MomentFinder, quiet_libraries
    from .pipeline.output import format_result, plot_saliency

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo", help="folder for the sample video and results (default ./demo)")
    ap.add_argument("--visual-model", default=DEFAULT_VISUAL_MODEL, help="CLIP/SigLIP id or directory")
    ap.add_argument(
        "--video",
        action="append",
        default=[],
        help="also ground 'a person opens a door' in this video (default: ../shared/data/univtg/charades.mp4)",
    )
    args = ap.parse_args(argv)
    video = make_demo_video(args.out)
    print(f"sample video: {video} (2 min, subtitles in {video[:-4]}.srt)")
    print(
        f'same as: momentfinder ground {video} "{QUERIES[0]}" "{QUERIES[1]}" --plot {args.out}/saliency.png\n'
    )
    quiet_libraries()
    finder = MomentFinder(args.visual_model, progress=sys.stderr.isatty())
    feats = finder.extract(video)
    for note in feats.notes:
        print(f"note: {note}; continuing with {', '.join(feats.channels)}\n")
    results = []
    for i, query in enumerate(QUERIES, 1):
        result = finder.ground_features(feats, query, top_k=3)
        plot_saliency(result, os.path.join(args.out, f"saliency_{i}.png"))
        print(format_result(result) + "\n")
        results.append(result.to_json())
    json_path = os.path.join(args.out, "result.json")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    print(f"JSON: {json_path}   plots: {os.path.join(args.out, 'saliency_*.png')}")
    for extra in args.video or [v for v in (SHARED_VIDEO,) if os.path.exists(v)]:
        try:
            print("\n" + format_result(finder.ground(extra, "a person opens a door", top_k=3)))
        except MomentFinderError as err:
            print(f"\nskipped {extra}: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
