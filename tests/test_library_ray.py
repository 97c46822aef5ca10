"""index add --ray: videos read on a local Ray with 2 workers give the library a local run gives."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from momentfinder.cli import main
from momentfinder.pipeline import FinderConfig
from momentfinder.pipeline.library import Library

from .test_library import make_videos

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray (2 CPUs: the machine is shared), used by every --ray run of the module."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("momentfinder").__file__)))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": src}},  # workers import this checkout
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray") / "vids"
    make_videos(folder, n=4, seconds=12)
    shutil.copy(folder / "v1.mp4", folder / "v1-copy.mp4")  # read once, even with two workers
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    return folder


def snapshot(db):
    """Everything the catalog holds, by file name."""
    lib = Library(db, progress=False, create=False)
    out = {}
    for row in lib.catalog.videos():
        name = os.path.basename(row.path)
        fields = (row.status, row.error, row.content_hash, row.duration, row.n_clips, row.unreadable)
        if row.status != "ok":
            out[name] = (fields, None, None, None)
            continue
        lines, embeddings = lib.catalog.lines(row.id)
        out[name] = (
            fields,
            lib.catalog.features(row.id),
            [(s.start, s.end, s.text) for s in lines],
            embeddings,
        )
    lib.close()
    return out


def test_ray_index_equals_local(local_ray, folder, tiny_clip, tmp_path, capsys):
    local = Library(
        tmp_path / "local.db",
        FinderConfig(visual_model=tiny_clip, cache_dir=str(tmp_path / "cache-local"), threads=1),
        progress=False,
    )
    expected = local.add([str(folder)]).to_json()
    local.close()
    assert (len(expected["added"]), len(expected["copied"]), len(expected["failed"])) == (4, 1, 1)

    db = tmp_path / "ray.db"
    common = ["--db", db, "--cache-dir", tmp_path / "cache-ray", "--json", "--threads", "1"]
    argv = ["index", "add", folder, "--visual-model", tiny_clip, "--ray", "--ray-workers", "2", *common]
    assert main([str(a) for a in argv]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    for outcome in ("added", "copied", "unchanged", "moved"):  # the copy is read once, as locally
        assert sorted(report[outcome]) == sorted(expected[outcome]), outcome
    [failed] = report["failed"]
    assert os.path.basename(failed["path"]) == "broken.mp4" and failed["error"]
    assert err.count("broken.mp4") == 1

    mine, theirs = snapshot(db), snapshot(tmp_path / "local.db")
    assert mine.keys() == theirs.keys() and len(mine) == 6
    for name, (fields, features, lines, embeddings) in mine.items():
        assert fields == theirs[name][0], name
        if features is not None:
            assert np.array_equal(features, theirs[name][1]), name  # identical, not close
            assert lines == theirs[name][2] and np.array_equal(embeddings, theirs[name][3]), name
    assert mine["v0.mp4"][2]  # the subtitle lines came back from the workers

    # again: the driver finds nothing to read, and submits nothing
    assert main([str(a) for a in argv]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["unchanged"]) == 6 and not report["added"]


def test_ray_bad_options(local_ray, folder, tiny_clip, tmp_path, capsys):
    argv = ["index", "add", folder, "--db", tmp_path / "x.db", "--visual-model", tiny_clip]
    assert main([str(a) for a in [*argv, "--ray", "--ray-workers", "0"]]) == 2
    assert "at least 1" in capsys.readouterr().err
