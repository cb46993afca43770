"""A webhook receiver for trying hookgate locally: answers 204 to any method on any path and
prints each request it gets (method, path, body) on one line.

    python3 examples/receiver.py 9000
"""
import http.server
import sys


class Receiver(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        print(f"{self.command} {self.path} {body}", flush=True)
        self.send_response(204)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass  # one line per request is printed by answer()


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
print(f"receiver listening on http://127.0.0.1:{port}", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
