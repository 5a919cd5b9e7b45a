"""course.primes: counts the primes below N (stdin), the process-mode row of lesson b
(docs/course.md), and the Python-threads contrast row (course.py imports count_primes).
A sieve of Eratosthenes on a bytearray: the same answer as the built-in `primes`.
"""
import sys


def count_primes(n):
    if n <= 2:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, n, i)))
    return sieve.count(1)


if __name__ == '__main__':
    text = sys.stdin.read().strip()
    if not text.isdigit() or int(text) > 100_000_000:
        sys.stderr.write(f'course.primes: N must be 0..100000000, got {text!r}\n')
        sys.exit(64)
    sys.stdout.write(str(count_primes(int(text))))
