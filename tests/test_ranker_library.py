"""The trained ranker end to end: `momentfinder extract` a few generated videos, `train-ranker` on
them, `index add` them, then `search --ranker` (and the Python API); bad rankers are one line."""

from __future__ import annotations

import json
import os

import pytest

from momentfinder.cli import main
from momentfinder.pipeline.library import Library
from momentfinder.video.sample import Scene, write_sample_video

COLOURS = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220), "yellow": (230, 220, 30)}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_clip):
    """Four videos (grey, a colour from 6 s to 12 s, grey; no subtitles), their features and
    queries, a ranker trained on them, and a library of them."""
    root = tmp_path_factory.mktemp("ranker-e2e")
    folder = root / "vids"
    folder.mkdir()
    annotations = []
    for i, (name, rgb) in enumerate(COLOURS.items()):
        scenes = [Scene(6, (128, 128, 128)), Scene(6, rgb), Scene(6, (90, 90, 90))]
        write_sample_video(str(folder / f"c{i}.mp4"), scenes, size=(64, 48), fps=5)
        annotations.append(
            {
                "qid": i,
                "query": f"a {name} screen",
                "vid": f"c{i}",
                "duration": 18.0,
                "relevant_windows": [[6, 12]],
            }
        )
    ann = root / "train.jsonl"
    ann.write_text("".join(json.dumps(a) + "\n" for a in annotations))
    cache = ["--cache-dir", root / "cache"]
    videos = sorted(folder.glob("*.mp4"))
    assert (
        main(
            [
                str(a)
                for a in [
                    "extract",
                    *videos,
                    "--out",
                    root / "feats",
                    "--queries",
                    ann,
                    "--visual-model",
                    tiny_clip,
                    *cache,
                    "-q",
                ]
            ]
        )
        == 0
    )
    db = root / "lib.db"
    assert (
        main(
            [str(a) for a in ["-q", "index", "add", folder, "--visual-model", tiny_clip, "--db", db, *cache]]
        )
        == 0
    )
    return root, ann, db


def test_train_ranker_then_search_with_it(trained, capsys, tmp_path):
    root, ann, db = trained
    ckpt = tmp_path / "ranker.ckpt"
    config = tmp_path / "ranker.yaml"  # four queries: many small epochs, no early stop
    config.write_text("epochs: 100\npatience: 0\nlr: 0.02\n")
    code, out, err = run(
        capsys,
        "train-ranker",
        "--features",
        root / "feats",
        "--train",
        ann,
        "--val",
        ann,
        "--out",
        ckpt,
        "--config",
        config,
    )
    summary = json.loads(out)
    assert code == 0 and ckpt.is_file() and summary["train_queries"] == 4 and summary["val_queries"] == 4
    assert summary["best_val_r1"] == 100.0 and summary["train_seconds"] > 0
    assert "epoch 1:" in err  # one line per epoch
    for i, name in enumerate(COLOURS):
        code, out, _ = run(
            capsys, "search", f"a {name} screen", "--db", db, "--ranker", ckpt, "--json", "--top-k", "4"
        )
        hits = json.loads(out)["hits"]
        assert code == 0 and os.path.basename(hits[0]["video"]) == f"c{i}.mp4", (name, hits)
        assert all("relevance" in h for h in hits)
        first = [h for h in hits if h["video"] == hits[0]["video"]]  # its moments, most relevant first
        assert [h["relevance"] for h in first] == sorted((h["relevance"] for h in first), reverse=True)
    # the Python API, and the library without a ranker is unchanged (no relevance)
    lib = Library(db, progress=False, ranker=str(ckpt))
    assert os.path.basename(lib.search("a blue screen", top_k=1)[0].video) == "c2.mp4"
    lib.close()
    plain = Library(db, progress=False)
    assert all(h.relevance is None for h in plain.search("a blue screen", top_k=3))
    plain.close()


def test_bad_rankers_are_one_clear_line(trained, capsys, tmp_path):
    import torch

    from momentfinder.grounding.detr.checkpoint import FeatureSpec
    from momentfinder.grounding.retrieval import CrossVideoRanker, Ranker, RankerConfig, save_ranker

    root, ann, db = trained
    good = tmp_path / "good.ckpt"
    assert (
        main(
            [
                "train-ranker",
                "--features",
                str(root / "feats"),
                "--train",
                str(ann),
                "--out",
                str(good),
                "--epochs",
                "1",
                "-q",
            ]
        )
        == 0
    )
    capsys.readouterr()
    dim = torch.load(good, weights_only=True)["spec"]["visual_dim"]
    cases = {}
    data = bytearray(good.read_bytes())
    weights = torch.load(good, weights_only=True)["model"]["text_map.weight"].numpy().tobytes()
    data[data.find(weights[:64]) + 5] ^= 0xFF  # a changed byte inside the weights
    cases["flipped.ckpt"] = (bytes(data), 3, "")
    cases["short.ckpt"] = (good.read_bytes()[: len(data) // 3], 3, "not a readable checkpoint")
    for name, (content, code_wanted, words) in cases.items():
        (tmp_path / name).write_bytes(content)
        code, out, err = run(capsys, "search", "a red screen", "--db", db, "--ranker", tmp_path / name)
        assert code == code_wanted and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith("momentfinder: error:") and words in err, err
    code, _, err = run(capsys, "search", "a red screen", "--db", db, "--ranker", tmp_path / "none.ckpt")
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1
    wide = tmp_path / "wide.ckpt"  # trained for another feature width
    spec = FeatureSpec(
        visual_model="other", visual_dim=dim + 8, text_model="t", text_dim=dim + 8, clip_len=2.0
    )
    save_ranker(wide, Ranker(CrossVideoRanker(RankerConfig(), dim + 8, dim + 8), spec))
    code, _, err = run(capsys, "search", "a red screen", "--db", db, "--ranker", wide)
    assert code == 2 and f"dim {dim + 8}" in err and len(err.strip().splitlines()) == 1, err
    other = tmp_path / "other.ckpt"  # the same width, another encoder
    spec = FeatureSpec(
        visual_model="some/other-encoder", visual_dim=dim, text_model="t", text_dim=dim, clip_len=2.0
    )
    save_ranker(other, Ranker(CrossVideoRanker(RankerConfig(), dim, dim), spec))
    code, _, err = run(capsys, "search", "a red screen", "--db", db, "--ranker", other)
    assert code == 2 and "some/other-encoder" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run(
        capsys,
        "train-ranker",
        "--features",
        root / "feats",
        "--train",
        tmp_path / "no.jsonl",
        "--out",
        tmp_path / "x.ckpt",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
