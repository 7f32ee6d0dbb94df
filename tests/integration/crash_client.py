"""A crash-test client: submits inquiries to 127.0.0.1:PORT until DEADLINE
(a time.time() value) and appends the id of every 201 answer to OUT, fsynced,
only after the answer arrived. Connection failures (the daemon being killed)
are retried after a short pause. Usage: crash_client.py PORT OUT DEADLINE TAG"""

import json
import os
import socket
import sys
import time

from harness import post_bytes

port, out, deadline, tag = int(sys.argv[1]), sys.argv[2], \
    float(sys.argv[3]), sys.argv[4]
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
n = 0
while time.time() < deadline:
    n += 1
    body = json.dumps({
        "name": "Crash Client %s" % tag, "email": "crash@example.com",
        "phone": "+91 00000 00000", "country": "India",
        "condition": "liver-cirrhosis",
        "message": "client %s submission %d" % (tag, n), "consent": True,
    }).encode()
    req = post_bytes(body, b"Connection: close")
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        time.sleep(0.05)
        continue
    head, _, payload = data.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 201 "):
        os.write(fd, json.loads(payload)["id"].encode() + b"\n")
        os.fsync(fd)
    else:
        time.sleep(0.01)
os.close(fd)
