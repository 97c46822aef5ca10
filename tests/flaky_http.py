"""A local HTTP server for one file that drops connections on purpose (stream reconnect tests).

Serves ``path`` with byte ranges (so players can seek); the first ``drops`` responses are cut off
after ``cut_bytes`` bytes (the socket is closed mid-body), as a network stream that drops.
"""

from __future__ import annotations

import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FlakyServer:
    def __init__(self, path: str, cut_bytes: int, drops: int = 1, content_type: str = "video/mp4"):
        self.path, self.cut_bytes, self.drops, self.content_type = path, cut_bytes, drops, content_type
        self.requests = 0
        self.cut = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                owner.requests += 1
                data = open(owner.path, "rb").read()
                size = len(data)
                start, end = 0, size - 1
                match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if match:
                    start = int(match.group(1))
                    end = int(match.group(2)) if match.group(2) else size - 1
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", owner.content_type)
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                body = data[start : end + 1]
                if owner.cut < owner.drops and start < owner.cut_bytes:
                    owner.cut += 1
                    self.wfile.write(body[: owner.cut_bytes - start])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{os.path.basename(path)}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
