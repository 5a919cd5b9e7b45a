"""course.fetch: one HTTP GET in a process of its own, the process-mode row of lesson a
(docs/course.md). The executor runs it once per task (examples/course/course.py writes
the config): stdin is the URL, stdout the result in http.get's format,
"status <code>\\nsize <bytes>\\n\\n<body>".

A process task runs outside the executor's fetch policy (--fetch-allow applies to the
built-in http.* types only), so this program checks its own: loopback http:// URLs only.
Exit code 64 (bad input) is listed as not retryable in the config.
"""
import sys
from http.client import HTTPConnection
from urllib.parse import urlsplit

url = sys.stdin.read().strip()
parts = urlsplit(url)
if parts.scheme != 'http' or parts.hostname != '127.0.0.1':
    sys.stderr.write(f'course.fetch: only http://127.0.0.1 URLs, got {url!r}\n')
    sys.exit(64)
connection = HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
connection.request('GET', (parts.path or '/') + (f'?{parts.query}' if parts.query else ''))
response = connection.getresponse()
body = response.read()
sys.stdout.buffer.write(b'status %d\nsize %d\n\n' % (response.status, len(body)) + body)
