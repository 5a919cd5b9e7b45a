"""course.primes: counts the primes below N (stdin): the process-mode rows of lesson b
(docs/course.md) and, imported by course.py, its Python-threads contrast.

The same algorithm as the built-in `primes` (executor/builtin_tasks.cc): a segmented sieve
of Eratosthenes over segments of 256 KiB, which stay in the CPU's cache. The marking is done
by bytearray slice assignments, so the inner loops run in C, but every one of them holds
Python's GIL.
"""
import math
import sys

SEGMENT = 1 << 18


def count_primes(n):
    if n <= 2:
        return 0
    root = math.isqrt(n - 1)
    small = bytearray([1]) * (root + 1)
    for i in range(2, math.isqrt(root) + 1):
        if small[i]:
            small[i * i::i] = bytes(len(range(i * i, root + 1, i)))
    base = [p for p in range(2, root + 1) if small[p]]
    count = 0
    for low in range(2, n, SEGMENT):  # [low, high)
        high = min(low + SEGMENT, n)
        segment = bytearray([1]) * (high - low)
        for p in base:
            if p * p >= high:
                break
            start = max(p * p, (low + p - 1) // p * p)
            segment[start - low::p] = bytes(len(range(start, high, p)))
        count += segment.count(1)
    return count


if __name__ == '__main__':
    text = sys.stdin.read().strip()
    if not text.isdigit() or int(text) > 4_000_000_000:
        sys.stderr.write(f'course.primes: N must be 0..4000000000, got {text!r}\n')
        sys.exit(64)
    sys.stdout.write(str(count_primes(int(text))))
