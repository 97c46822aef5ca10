"""The HTTP API (``momentfinder serve``) with FastAPI's test client, on a library of real generated
videos: search, ground in one video, stream with ranges, pictures, clips, uploads, and what a
careless or hostile client sends (bad ids, ranges, queries, files; no token; paths out of the roots)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from momentfinder.pipeline.finder import finder_config
from momentfinder.pipeline.library import Library
from momentfinder.pipeline.media import probe_media
from momentfinder.server import ServerConfig, create_app
from momentfinder.server.state import ServerState
from momentfinder.types import SubtitleSegment
from momentfinder.video.sample import Scene, write_sample_video

from .test_library import make_videos

FROG = "a green frog jumps into the pond"
TEST_HOSTS = ("testserver", "127.0.0.1", "localhost")


def build_library(folder, tiny_clip, n=4) -> tuple[str, list[str]]:
    """A SQLite library of ``n`` generated 18 s videos (make_videos: v1 shows green and says FROG)."""
    paths = make_videos(folder / "vids", n=n)
    db = str(folder / "lib.db")
    lib = Library(db, finder_config(visual_model=tiny_clip, cache_dir=str(folder / "cache")), progress=False)
    report = lib.add([str(folder / "vids")])
    lib.close()
    assert len(report.added) == n
    return db, paths


def new_video(path, colour=(230, 220, 30), line="a yellow taxi stops at the corner") -> str:
    scenes = [Scene(4, (128, 128, 128)), Scene(4, colour), Scene(4, (90, 90, 90))]
    return write_sample_video(
        str(path), scenes, size=(64, 48), fps=5, subtitles=[SubtitleSegment(4.5, 7.5, line)]
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_clip):
    """(client, state, video paths) of a server over a fresh library; uploads up to 2 MB."""
    folder = tmp_path_factory.mktemp("served")
    db, paths = build_library(folder, tiny_clip)
    config = ServerConfig(
        db=db, state_dir=str(folder / "state"), allowed_hosts=TEST_HOSTS, max_upload_bytes=2_000_000
    )
    app = create_app(config)
    with TestClient(app) as client:
        yield client, app.state.momentfinder, paths


def auth(state) -> dict:
    return {"Authorization": f"Bearer {state.token}"}


def is_json_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"] and "Traceback" not in response.text
    return body["error"]


def vid(client, name: str) -> int:
    return next(v["id"] for v in client.get("/api/videos").json()["videos"] if v["name"] == name)


# -- what a user does -------------------------------------------------------------------------------
def test_search_then_ground_watch_and_export(served, tmp_path):
    client, _, paths = served
    r = client.post("/api/search", json={"query": FROG, "top_k": 5})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits[0]["name"] == "v1.mp4" and (hits[0]["start"], hits[0]["end"]) == (6.5, 11.5)
    assert hits[0]["confidence"] > 0.9 and len(hits) <= 5
    v1 = hits[0]["video_id"]

    g = client.post(f"/api/videos/{v1}/ground", json={"query": FROG, "top_k": 3}).json()
    assert g["name"] == "v1.mp4" and g["duration"] == 18.0 and g["clip_len"] == 2.0
    assert len(g["saliency"]) == 9 and (g["moments"][0]["start"], g["moments"][0]["end"]) == (6.5, 11.5)

    data = open(paths[1], "rb").read()
    full = client.get(f"/api/videos/{v1}/stream")
    assert full.status_code == 200 and full.content == data and full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4"
    part = client.get(f"/api/videos/{v1}/stream", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(f"/api/videos/{v1}/stream", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    rest = client.get(f"/api/videos/{v1}/stream", headers={"Range": f"bytes={len(data) - 5}-"})
    assert rest.content == data[-5:]
    head = client.head(f"/api/videos/{v1}/stream")
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(data) and not head.content

    pic = client.get(f"/api/videos/{v1}/thumbnail", params={"t": 9, "w": 48})
    assert pic.status_code == 200 and pic.headers["content-type"] == "image/jpeg"
    image = np.asarray(Image.open(io.BytesIO(pic.content)))
    assert image.shape[1] == 48 and image.reshape(-1, 3).mean(axis=0).argmax() == 1  # the green scene
    grey = np.asarray(Image.open(io.BytesIO(client.get(f"/api/videos/{v1}/thumbnail?t=1").content)))
    assert np.ptp(grey.reshape(-1, 3).mean(axis=0)) < 20

    clip = client.get(f"/api/videos/{v1}/clip", params={"start": 6.5, "end": 11.5})
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    assert 'filename="v1_6.5-11.5.mp4"' in clip.headers["content-disposition"]
    out = tmp_path / "moment.mp4"
    out.write_bytes(clip.content)
    assert abs(probe_media(out).duration - 5.0) < 0.5
    assert not os.listdir(served[1].exports)  # the cut file is removed once sent


def test_listing_status_and_openapi(served):
    client, _, _ = served
    listing = client.get("/api/videos").json()
    assert listing["total"] >= 4 and {"v0.mp4", "v1.mp4"} <= {v["name"] for v in listing["videos"]}
    assert client.get("/api/videos", params={"limit": 1, "offset": 1}).json()["videos"][0]["name"] == "v1.mp4"
    one = client.get(f"/api/videos/{vid(client, 'v2.mp4')}").json()
    assert one["duration"] == 18.0 and one["clips"] == 9 and one["status"] == "ok"
    assert "path" not in one  # where files live is not for every client
    status = client.get("/api/library").json()
    assert status["videos"] >= 4 and status["clip_len"] == 2.0
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/search",
        "/api/videos/{video_id}/ground",
        "/api/videos",
        "/api/videos/{video_id}/stream",
        "/api/videos/{video_id}/thumbnail",
        "/api/videos/{video_id}/clip",
        "/api/index",
        "/api/uploads",
    ):
        assert path in spec["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="query"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200


# -- bad input ------------------------------------------------------------------------------------
def test_bad_requests_get_json_errors(served):
    client, _, _ = served
    v1 = vid(client, "v1.mp4")
    for path in ("/api/videos/999", "/api/videos/999/stream", "/api/videos/999/thumbnail"):
        assert "no video 999" in is_json_error(client.get(path), 404)
    is_json_error(client.get("/api/videos/999/clip?start=1&end=2"), 404)
    is_json_error(client.post("/api/videos/999/ground", json={"query": FROG}), 404)
    is_json_error(client.get("/api/videos/abc"), 422)
    is_json_error(client.get(f"/api/videos/{2**70}"), 422)
    is_json_error(client.get("/api/videos/0/stream"), 422)

    for header in (
        "bytes=abc",
        "items=0-5",
        "bytes=9-2",
        "bytes=--1",
        "bytes=1-2-3",
        "0-100",
        "bytes=",
        "bytes=٣-".encode(),
    ):
        assert "Range" in is_json_error(
            client.get(f"/api/videos/{v1}/stream", headers={"Range": header}), 400
        )
    past = client.get(f"/api/videos/{v1}/stream", headers={"Range": "bytes=99999999-"})
    is_json_error(past, 416)
    assert past.headers["content-range"].startswith("bytes */")
    is_json_error(client.get(f"/api/videos/{v1}/stream", headers={"Range": "bytes=-0"}), 416)
    many = "bytes=" + ",".join(f"{i}-{i}" for i in range(50))
    is_json_error(client.get(f"/api/videos/{v1}/stream", headers={"Range": many}), 400)

    for query in ("", "   \n\t"):
        assert "query" in is_json_error(client.post("/api/search", json={"query": query}), 422)
        is_json_error(client.post(f"/api/videos/{v1}/ground", json={"query": query}), 422)
    assert "query" in is_json_error(client.post("/api/search", json={"query": "frog " * 1000}), 422)
    is_json_error(client.post("/api/search", json={"query": "x" * 200_000}), 413)  # body over 64 KiB
    is_json_error(client.post("/api/search", json={}), 422)
    is_json_error(client.post("/api/search", json={"query": 5}), 422)
    is_json_error(client.post("/api/search", json={"query": FROG, "top_k": 0}), 422)
    is_json_error(
        client.post("/api/search", content=b"{not json", headers={"Content-Type": "application/json"}), 422
    )

    def chunks():
        for _ in range(100):
            yield b" " * 1000

    is_json_error(
        client.post("/api/search", content=chunks(), headers={"Content-Type": "application/json"}), 413
    )

    for params in (
        {"start": 5, "end": 2},
        {"start": 1, "end": 1},
        {"start": -1, "end": 2},
        {"start": 0, "end": 700},
    ):
        is_json_error(client.get(f"/api/videos/{v1}/clip", params=params), 422)
    is_json_error(client.get(f"/api/videos/{v1}/clip", params={"start": 30, "end": 31}), 400)  # past the end
    is_json_error(client.get(f"/api/videos/{v1}/clip", params={"start": "nan", "end": 2}), 422)
    is_json_error(client.get(f"/api/videos/{v1}/thumbnail", params={"t": -1}), 422)
    is_json_error(client.get(f"/api/videos/{v1}/thumbnail", params={"w": 5}), 422)
    is_json_error(client.get("/api/videos", params={"status": "nonsense"}), 422)
    is_json_error(client.get("/api/nothing-here"), 404)
    is_json_error(client.delete("/api/library"), 405)


def test_an_unexpected_fault_is_a_plain_500(served, monkeypatch):
    _, state, _ = served
    client = TestClient(create_app(state.config, state), raise_server_exceptions=False)

    def broken(self):
        raise RuntimeError("disk on fire at /secret/place")

    monkeypatch.setattr(Library, "status", broken)
    r = client.get("/api/library")
    assert "internal error" in is_json_error(r, 500) and "/secret/place" not in r.text


# -- security -------------------------------------------------------------------------------------
def test_write_endpoints_need_the_token(served):
    client, state, paths = served
    folder = os.path.dirname(paths[0])
    for method, path, kwargs in (
        ("post", "/api/uploads?filename=a.mp4", {"content": b"x"}),
        ("post", "/api/index", {"json": {"paths": [folder]}}),
        ("delete", f"/api/videos/{vid(client, 'v0.mp4')}", {}),
    ):
        r = getattr(client, method)(path, **kwargs)
        is_json_error(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        is_json_error(getattr(client, method)(path, headers={"Authorization": "Bearer nope"}, **kwargs), 403)
        is_json_error(getattr(client, method)(path, headers={"X-MomentFinder-Token": "nope"}, **kwargs), 403)
    assert len(client.get("/api/videos").json()["videos"]) >= 4  # nothing was deleted
    r = client.post("/api/index", json={"paths": [folder]}, headers={"X-MomentFinder-Token": state.token})
    assert r.status_code == 200 and len(r.json()["unchanged"]) == 4


def test_token_is_made_once_and_private(tmp_path, served):
    _, state, _ = served
    mode = stat.S_IMODE(os.stat(state.token_file).st_mode)
    assert mode == 0o600 and len(state.token) >= 32
    from momentfinder.server.security import load_or_create_token

    path = str(tmp_path / "s" / "token")
    token, created = load_or_create_token(path)
    assert created and load_or_create_token(path) == (token, False)
    os.chmod(path, 0o644)
    assert load_or_create_token(path) == (token, False) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    open(path, "w").write("")  # an emptied file gets a new token
    fresh, created = load_or_create_token(path)
    assert created and fresh != token


def test_paths_stay_inside_the_roots(served, tmp_path):
    client, state, paths = served
    folder = os.path.dirname(paths[0])
    outside = tmp_path / "outside"
    outside.mkdir()
    new_video(outside / "secret.mp4")
    os.symlink(outside, os.path.join(folder, "link-out"))
    os.symlink(outside / "secret.mp4", os.path.join(folder, "alias.mp4"))
    try:
        for path in (
            str(outside),
            str(outside / "secret.mp4"),
            f"{folder}/../../{outside.name}",
            f"{folder}/link-out",
            f"{folder}/alias.mp4",
            "/etc/passwd",
            "~",
        ):
            r = client.post("/api/index", json={"paths": [path]}, headers=auth(state))
            assert "outside" in is_json_error(r, 403), path
    finally:
        os.unlink(os.path.join(folder, "link-out"))
        os.unlink(os.path.join(folder, "alias.mp4"))
    assert "secret.mp4" not in {v["name"] for v in client.get("/api/videos").json()["videos"]}
    r = client.post("/api/index", json={"paths": [paths[0][:-4] + ".srt"]}, headers=auth(state))
    assert r.status_code == 200 and r.json()["failed"][0]["error"] == "not a video or audio file name"
    # a folder inside the roots is indexed, but not a file in it that links out
    sub = os.path.join(folder, "sub")
    os.mkdir(sub)
    os.symlink(outside / "secret.mp4", os.path.join(sub, "alias.mp4"))
    try:
        r = client.post("/api/index", json={"paths": [sub]}, headers=auth(state))
        assert r.status_code == 200 and not r.json()["added"]
        assert [os.path.basename(f["path"]) for f in r.json()["failed"]] == ["alias.mp4"]
    finally:
        shutil.rmtree(sub)
    assert "alias.mp4" not in {v["name"] for v in client.get("/api/videos").json()["videos"]}

    # an indexed file swapped for a symlink that leads out of its folder is not served
    inner = os.path.join(folder, "swapped.mp4")
    new_video(inner)
    r = client.post("/api/index", json={"paths": [inner]}, headers=auth(state))
    assert r.status_code == 200 and r.json()["added"] == [inner]
    swapped = vid(client, "swapped.mp4")
    assert client.get(f"/api/videos/{swapped}/stream").status_code == 200
    os.unlink(inner)
    os.symlink("/etc/passwd", inner)
    try:
        for path in ("stream", "thumbnail", "clip?start=0&end=1"):
            is_json_error(client.get(f"/api/videos/{swapped}/{path}"), 403)
    finally:
        os.unlink(inner)
    is_json_error(client.get(f"/api/videos/{swapped}/stream"), 410)  # gone
    assert client.delete(f"/api/videos/{swapped}", headers=auth(state)).status_code == 200


def test_explicit_roots(served, tmp_path):
    _, state, paths = served
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    new_video(root / "sub" / "inside.mp4")
    other = tmp_path / "other"
    other.mkdir()
    new_video(other / "elsewhere.mp4")
    config = ServerConfig(
        db=state.config.db, state_dir=str(tmp_path / "state"), roots=(str(root),), allowed_hosts=TEST_HOSTS
    )
    app = create_app(config)
    with TestClient(app) as client:
        token = {"Authorization": f"Bearer {app.state.momentfinder.token}"}
        is_json_error(client.post("/api/index", json={"paths": [str(other)]}, headers=token), 403)
        is_json_error(
            client.post("/api/index", json={"paths": [f"{root}/sub/../../other"]}, headers=token), 403
        )
        r = client.post("/api/index", json={"paths": [str(root)]}, headers=token)
        assert r.status_code == 200 and [os.path.basename(p) for p in r.json()["added"]] == ["inside.mp4"]
        inside = vid(client, "inside.mp4")
        assert client.get(f"/api/videos/{inside}/stream").status_code == 200
        # the library's older videos lie outside these roots: not served
        is_json_error(client.get(f"/api/videos/{vid(client, 'v0.mp4')}/stream"), 403)
        assert client.delete(f"/api/videos/{inside}", headers=token).status_code == 200
        assert os.path.exists(root / "sub" / "inside.mp4")  # forgotten, not deleted: it is the user's file


def test_uploads(served, tmp_path):
    client, state, _ = served
    video = new_video(tmp_path / "taxi ride.mp4")
    data = open(video, "rb").read()
    headers = {**auth(state), "Content-Type": "video/mp4"}
    r = client.post("/api/uploads", params={"filename": "../../taxi ride.mp4"}, content=data, headers=headers)
    assert r.status_code == 201, r.text
    up = r.json()
    assert (
        up["outcome"] == "added"
        and up["video"]["name"] == "taxi ride.mp4"
        and up["video"]["duration"] == 12.0
    )
    assert os.listdir(state.uploads) == ["taxi ride.mp4"]  # inside uploads whatever the name said
    uid = up["video"]["id"]
    g = client.post(f"/api/videos/{uid}/ground", json={"query": "a yellow taxi stops at the corner"}).json()
    assert len(g["saliency"]) == 6 and g["channels"] == ["visual"]  # the .srt beside it was not sent
    assert g["moments"] and all(0 <= m["start"] < m["end"] <= 12.0 for m in g["moments"])
    assert client.get(f"/api/videos/{uid}/stream").content == data
    again = client.post("/api/uploads", params={"filename": "taxi ride.mp4"}, content=data, headers=headers)
    assert again.status_code == 201 and again.json()["video"]["name"] == "taxi ride-1.mp4"
    assert again.json()["outcome"] == "copied"  # the same content: its features are reused

    before = sorted(os.listdir(state.uploads))
    cases = [
        ({"filename": "notes.txt"}, data, "video/mp4", 415),
        ({"filename": "fake.mp4"}, b"this is not a video at all" * 50, "video/mp4", 415),
        ({"filename": "empty.mp4"}, b"", "video/mp4", 415),
        ({"filename": "page.mp4"}, data, "text/html", 415),
        ({"filename": "huge.mp4"}, b"\0" * 2_100_000, "video/mp4", 413),
    ]
    for params, content, kind, status in cases:
        r = client.post(
            "/api/uploads", params=params, content=content, headers={**auth(state), "Content-Type": kind}
        )
        message = is_json_error(r, status)
        assert state.uploads not in message  # the server's folders are not told

    def stream():  # no Content-Length: counted as it comes
        for _ in range(30):
            yield b"\0" * 100_000

    is_json_error(
        client.post("/api/uploads", params={"filename": "big.mp4"}, content=stream(), headers=headers), 413
    )
    assert sorted(os.listdir(state.uploads)) == before  # nothing half-written is left
    names = {v["name"] for v in client.get("/api/videos").json()["videos"]}
    assert "fake.mp4" not in names and "empty.mp4" not in names

    for v in (uid, again.json()["video"]["id"]):
        assert client.delete(f"/api/videos/{v}", headers=auth(state)).status_code == 200
    assert os.listdir(state.uploads) == []  # an uploaded file goes with its video
    is_json_error(client.get(f"/api/videos/{uid}"), 404)
    is_json_error(client.delete(f"/api/videos/{uid}", headers=auth(state)), 404)


def test_cors_off_and_hosts_checked(served):
    client, state, _ = served
    r = client.get("/api/library", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = client.options(
        "/api/search", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in pre.headers
    assert client.get("/api/library", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
    config = ServerConfig(
        db=state.config.db,
        state_dir=state.folder,
        allowed_hosts=TEST_HOSTS,
        cors_origins=("http://ok.example",),
    )
    with TestClient(create_app(config, state)) as other:
        r = other.get("/api/library", headers={"Origin": "http://ok.example"})
        assert r.headers["access-control-allow-origin"] == "http://ok.example"
        assert (
            "access-control-allow-origin"
            not in other.get("/api/library", headers={"Origin": "http://x.example"}).headers
        )


# -- on a real socket ----
class LiveServer:
    """``create_app(config)`` served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, config: ServerConfig, state: ServerState | None = None):
        import uvicorn

        self.app = create_app(config, state)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise AssertionError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def state(self):
        return self.app.state.momentfinder


def test_100_concurrent_searches_on_loopback(served):
    """Bounded load: 100 searches at once over loopback, no errors; a byte range asked for meanwhile
    is answered without waiting for the searches (only the library is one-at-a-time)."""
    import asyncio

    import httpx

    client, state, paths = served
    v1 = vid(client, "v1.mp4")
    queries = [
        f"{line} {i}"
        for i, line in enumerate(["a green frog jumps into the pond", "blue water over the dam"] * 50)
    ]

    async def run(url: str):
        limits = httpx.Limits(max_connections=120)
        async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
            assert (
                await http.get(f"/api/videos/{v1}/stream", headers={"Range": "bytes=0-9"})
            ).status_code == 206
            done: dict[str, float] = {}

            async def search(q: str):
                r = await http.post("/api/search", json={"query": q, "top_k": 3})
                done[q] = time.perf_counter()
                return r

            async def ranged():
                await asyncio.sleep(0.2)  # the searches are queued by now
                r = await http.get(f"/api/videos/{v1}/stream", headers={"Range": "bytes=10-19"})
                done["range"] = time.perf_counter()
                return r

            results = await asyncio.gather(*(search(q) for q in queries), ranged())
            return results, done

    with LiveServer(state.config, state) as live:
        results, done = asyncio.run(run(live.url))
    *searches, ranged = results
    assert [r.status_code for r in searches] == [200] * 100
    assert all(r.json()["hits"] for r in searches)
    assert ranged.status_code == 206 and ranged.content == open(paths[1], "rb").read()[10:20]
    assert done["range"] < max(done[q] for q in queries)  # it did not wait for every search


# -- the command ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(db, state_dir, port):
    env = {**os.environ, "PYTHONPATH": os.path.abspath("src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable,
        "-m",
        "momentfinder",
        "serve",
        "--db",
        db,
        "--port",
        str(port),
        "--state-dir",
        state_dir,
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_up(proc, url, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.3)
    raise AssertionError("serve did not answer")


def stop(proc) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_serve_command_on_loopback(served, tmp_path):
    _, state, _ = served
    db = str(tmp_path / "lib.db")
    shutil.copy(state.config.db, db)
    state_dir = str(tmp_path / "state")
    port = free_port()
    proc = start_serve(db, state_dir, port)
    try:
        status = wait_up(proc, f"http://127.0.0.1:{port}/api/library")
    finally:
        err = stop(proc)
    assert status["videos"] >= 4
    token = open(os.path.join(state_dir, "token")).read().strip()
    assert err.count(token) == 2 and "shown once" in err  # the token line and the page link
    assert stat.S_IMODE(os.stat(os.path.join(state_dir, "token")).st_mode) == 0o600
    proc = start_serve(db, state_dir, port)
    try:
        wait_up(proc, f"http://127.0.0.1:{port}/api/library")
    finally:
        err = stop(proc)
    assert token not in err and "the write token is in" in err


def test_serve_command_refuses_a_bad_library(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(4096))
    proc = start_serve(str(garbage), str(tmp_path / "state"), free_port())
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.strip().splitlines()[-1].startswith("momentfinder: error:")
    assert "Traceback" not in err
    assert not os.path.exists(tmp_path / "state" / "token")  # no token made that nobody was shown


def test_a_library_that_does_not_fit_stops_the_server_at_start(served, tmp_path):
    from momentfinder.errors import InputError

    _, state, _ = served
    config = ServerConfig(
        db=state.config.db,
        state_dir=str(tmp_path / "s"),
        finder=finder_config(visual_model=str(tmp_path / "another-model")),
        adopt_encoder=False,
    )
    with pytest.raises(InputError, match="was made with"):
        ServerState(config)
    assert not os.path.exists(tmp_path / "s" / "token")


def test_leftovers_of_a_killed_server_are_removed_at_start(served, tmp_path):
    _, state, _ = served
    folder = tmp_path / "state"
    (folder / "uploads").mkdir(parents=True)
    (folder / "exports").mkdir()
    (folder / "uploads" / ".0123abcd.part.mp4").write_bytes(b"half an upload")
    (folder / "uploads" / "kept.mp4").write_bytes(b"an upload")
    (folder / "exports" / "0123.mp4").write_bytes(b"a clip never sent")
    fresh = ServerState(ServerConfig(db=state.config.db, state_dir=str(folder)))
    try:
        assert os.listdir(folder / "uploads") == ["kept.mp4"] and os.listdir(folder / "exports") == []
    finally:
        fresh.close()
        fresh.close()  # twice is harmless


def test_serve_options(tmp_path, capsys):
    from momentfinder.cli import build_parser, main
    from momentfinder.cli.serve import server_config

    args = build_parser().parse_args(
        ["serve", "--db", str(tmp_path / "l.db"), "--root", "~/v", "--max-upload-mb", "5"]
    )
    config = server_config(args)
    assert config.roots == ("~/v",) and config.max_upload_bytes == 5 * 1024 * 1024
    assert "*" not in config.allowed_hosts and "127.0.0.1" in config.allowed_hosts and not config.cors_origins
    public = server_config(
        build_parser().parse_args(["serve", "--host", "0.0.0.0", "--cors-origin", "http://a.b"])
    )
    assert "*" in public.allowed_hosts and public.cors_origins == ("http://a.b",)
    named = server_config(
        build_parser().parse_args(["serve", "--host", "0.0.0.0", "--allowed-host", "box.lan"])
    )
    assert "box.lan" in named.allowed_hosts and "*" not in named.allowed_hosts
    for bad in (["--port", "70000"], ["--port", "x"], ["--max-upload-mb", "0"]):
        with pytest.raises(SystemExit) as stopped:
            main(["serve", *bad])
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and len(err.strip().splitlines()) == 1 and bad[0] in err


def test_state_folder_defaults(tmp_path):
    assert ServerConfig(db=str(tmp_path / "a.db")).state_folder() == str(tmp_path / "a.db") + ".serve"
    pg = ServerConfig(db="postgresql://u:p@h/db").state_folder()
    assert "serve-" in pg and "p@h" not in pg
    assert isinstance(ServerState, type)


def test_chat_keeps_the_conversation_between_turns(served):
    """A conversation about one video: the first answer gives a session id; with it a follow-up
    refines that answer; without it (or with another video) a follow-up has nothing to refine."""
    client, state, _ = served
    v1 = vid(client, "v1.mp4")
    first = client.post(f"/api/videos/{v1}/chat", json={"text": FROG})
    assert first.status_code == 200, first.text
    body = first.json()
    session, answer = body["session"], body["answer"]
    assert body["video_id"] == v1 and answer["action"] == "new"
    assert (answer["moment"]["start"], answer["moment"]["end"]) == (6.5, 11.5)
    count = client.post(f"/api/videos/{v1}/chat", json={"text": "how many times?", "session": session}).json()
    assert count["session"] == session and count["answer"]["action"] == "count"
    assert count["answer"]["count"] >= 1
    # the same follow-up in a new conversation (no session, an unknown one, another video's)
    v2 = vid(client, "v2.mp4")
    for url, sid in (
        (f"/api/videos/{v1}/chat", None),
        (f"/api/videos/{v1}/chat", "gone"),
        (f"/api/videos/{v2}/chat", session),
    ):
        error = is_json_error(client.post(url, json={"text": "the one after that", "session": sid}), 400)
        assert "refines an earlier answer" in error
    is_json_error(client.post("/api/videos/999999/chat", json={"text": FROG}), 404)
    is_json_error(client.post(f"/api/videos/{v1}/chat", json={"text": "  "}), 422)
    is_json_error(client.post(f"/api/videos/{v1}/chat", json={"text": "x" * 5000}), 422)


def test_chat_sessions_are_bounded():
    from momentfinder.server.sessions import ChatSessions

    class FakeChat:
        def __init__(self):
            self.turns = 0

        def ask(self, text):
            self.turns += 1
            return type("A", (), {"to_json": lambda _self, n=self.turns: {"turn": n}})()

    class FakeLibrary:
        made = 0

        def conversation(self, video_id):
            FakeLibrary.made += 1
            return FakeChat()

    sessions, library = ChatSessions(max_sessions=2, idle_seconds=3600), FakeLibrary()
    a, first = sessions.turn(library, 1, None, "q")
    assert sessions.turn(library, 1, a, "again") == (a, {"turn": 2})
    b, _ = sessions.turn(library, 1, None, "q")
    c, _ = sessions.turn(library, 2, None, "q")  # past two sessions: the least recently used (a) goes
    assert sessions.turn(library, 1, a, "q")[0] not in (a, b, c)
    assert FakeLibrary.made == 4
    sessions.idle_seconds = 0.0  # every session idle: all dropped before the next turn
    assert sessions.turn(library, 1, b, "q")[0] != b


def _sse(response) -> list[tuple[str, dict]]:
    """(event name, data) of every Server-Sent Event of a finished stream."""
    out, name = [], "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
            name = "message"
    return out


def test_watch_a_file_and_stream_its_events(served, tmp_path):
    """A watch over a library file: started with the token, its events as Server-Sent Events
    (a listener that comes after the end gets them all, then the end with the summary)."""
    client, state, paths = served
    is_json_error(client.post("/api/watches", json={"source": paths[1], "queries": [FROG]}), 401)
    r = client.post(
        "/api/watches", json={"source": paths[1], "queries": [FROG, "a red car"]}, headers=auth(state)
    )
    assert r.status_code == 201, r.text
    watch = r.json()
    assert watch["queries"] == [FROG, "a red car"] and watch["source"] == os.path.realpath(paths[1])
    state.watches.get(watch["id"]).thread.join(60)
    with client.stream("GET", f"/api/watches/{watch['id']}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse(response)
    assert events[-1][0] == "end" and events[-1][1]["error"] is None
    summary = events[-1][1]["summary"]
    assert summary["clips"] == 9 and summary["ended"]  # an 18 s file in 2 s clips
    moments = [data for name, data in events[:-1]]
    assert all(name == "message" for name, _ in events[:-1]) and len(moments) == summary["events"]
    assert all(
        e["query"] in (FROG, "a red car") and e["event"] in ("start", "update", "end") for e in moments
    )
    # every moment it closed is in the library now, and a search finds it
    ends = [e for e in moments if e["event"] == "end" and e["query"] == FROG]
    found = client.post("/api/search", json={"query": FROG}).json()["found"]
    mine = [f for f in found if f["source"] == "v1.mp4"]
    assert sorted((f["start"], f["end"]) for f in mine) == sorted((e["start"], e["end"]) for e in ends)
    assert all(f["watch_query"] == FROG for f in mine)
    listed = client.get("/api/watches").json()
    assert [w["id"] for w in listed] == [watch["id"]] and listed[0]["running"] is False
    # an ended watch takes no queries; a query it never had cannot be removed; then it is forgotten
    is_json_error(
        client.post(f"/api/watches/{watch['id']}/queries", json={"query": "x"}, headers=auth(state)), 409
    )
    is_json_error(
        client.delete(f"/api/watches/{watch['id']}/queries", params={"query": "x"}, headers=auth(state)), 404
    )
    assert client.delete(f"/api/watches/{watch['id']}", headers=auth(state)).status_code == 200
    is_json_error(client.get(f"/api/watches/{watch['id']}"), 404)
    is_json_error(client.get(f"/api/watches/{watch['id']}/events"), 404)


def test_watch_refuses_bad_sources_and_too_many_watches(served, tmp_path):
    client, state, paths = served
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(open(paths[0], "rb").read())
    for source, status in (
        (str(outside), 403),  # not in the library's folders
        (os.path.join(os.path.dirname(paths[0]), "nothing.mp4"), 404),
        ("file:///etc/passwd", 422),
        ("-i x", 422),
    ):
        is_json_error(
            client.post("/api/watches", json={"source": source, "queries": [FROG]}, headers=auth(state)),
            status,
        )
    is_json_error(
        client.post("/api/watches", json={"source": paths[0], "queries": []}, headers=auth(state)), 422
    )
    is_json_error(
        client.post("/api/watches", json={"source": paths[0], "queries": ["  "]}, headers=auth(state)), 422
    )
    limit, state.watches.limit = state.watches.limit, 0
    try:
        is_json_error(
            client.post("/api/watches", json={"source": paths[0], "queries": [FROG]}, headers=auth(state)),
            429,
        )
    finally:
        state.watches.limit = limit


def test_a_search_does_not_wait_for_an_indexing_run(served, monkeypatch):
    """Indexing runs on the writer's connection: while an add is in progress (held here until the
    search has answered), searches and listings are answered from the reader's."""
    client, state, paths = served
    started, release = threading.Event(), threading.Event()
    real_add = Library.add

    def held_add(self, *args, **kwargs):
        started.set()
        assert release.wait(60), "the search never answered while the add was held"
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Library, "add", held_add)
    outcome: dict = {}

    def index():  # an indexed file: the add runs (and is held), then finds it unchanged
        outcome["index"] = client.post("/api/index", json={"paths": [paths[0]]}, headers=auth(state))

    indexer = threading.Thread(target=index)
    indexer.start()
    try:
        assert started.wait(60)
        r = client.post("/api/search", json={"query": FROG, "top_k": 3})
        listing = client.get("/api/library")
        assert r.status_code == 200 and r.json()["hits"] and listing.status_code == 200
        assert indexer.is_alive()  # the add was still held while both answered
    finally:
        release.set()
        indexer.join(120)
    assert outcome["index"].status_code == 200, outcome["index"].text
    assert outcome["index"].json()["unchanged"], outcome["index"].json()
