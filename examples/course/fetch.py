"""course.fetch: one HTTP GET in a process of its own, the process-mode row of lesson a
(docs/course.md). The executor starts it once per task (course.py writes the config):
stdin is the URL, stdout the result in http.get's format, "status <code>\\nsize
<bytes>\\n\\n<body>".

It speaks HTTP/1.1 over a plain socket, because a process per task pays the interpreter's
start-up and every import again each time: `import http.client` alone would triple that cost.
A process task runs outside the executor's fetch policy (--fetch-allow applies to the
built-in http.* types only), so it checks its own: http://127.0.0.1 URLs only. Exit code
64 (bad input) is not retryable in the config.
"""
import socket
import sys

url = sys.stdin.read().strip()
prefix = 'http://127.0.0.1:'
host_port, _, path = url[len(prefix):].partition('/')
if not url.startswith(prefix) or not host_port.isdigit():
    sys.stderr.write(f'course.fetch: only http://127.0.0.1:PORT/... URLs, got {url!r}\n')
    sys.exit(64)
with socket.create_connection(('127.0.0.1', int(host_port)), timeout=10) as conn:
    conn.sendall(f'GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{host_port}\r\n'
                 'Connection: close\r\n\r\n'.encode())
    response = b''
    while chunk := conn.recv(65536):
        response += chunk
head, _, body = response.partition(b'\r\n\r\n')
status = int(head.split(b' ', 2)[1])
sys.stdout.buffer.write(b'status %d\nsize %d\n\n' % (status, len(body)) + body)
