#!/usr/bin/env python3
"""A counting HTTP proxy between chronicle and the S3 test server, for the
test that part objects are read with range requests: every request is
forwarded as is (moto does not check signatures, so the changed Host does
not matter) and one JSON line per request is appended to LOG: method, path,
Range header, status and the bytes of the response body.
Prints the port it listens on (127.0.0.1), then serves until killed.
Usage: counting_proxy.py UPSTREAM_URL LOG"""
import http.client
import http.server
import json
import sys
import threading
import urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)
log_lock = threading.Lock()
# Hop-by-hop headers are the proxy's own business.
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.send_response(resp.status, resp.reason)
        # A HEAD's Content-Length is the object's, which has no body here.
        for k, v in resp.getheaders():
            if k.lower() not in HOP and (self.command == "HEAD" or k.lower() != "content-length"):
                self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        with log_lock:
            log.write(json.dumps({
                "method": self.command,
                "path": urllib.parse.unquote(urllib.parse.urlsplit(self.path).path),
                "range": self.headers.get("Range"),
                "status": resp.status,
                "bytes": len(data) if self.command != "HEAD" else 0,
            }) + "\n")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
