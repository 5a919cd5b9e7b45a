#!/usr/bin/python3
"""Soak: a long run at half the measured peak rate with one fault a minute.

Starts its own scheduler (default SQLite store and retention, in a temp dir) and executors,
each executor behind a TCP proxy from tests/e2e/nemesis.py, on 127.0.0.1:0 (every process
is stopped by PID at the end, as the e2e harness does). Then:

1. warm-up: submits --warmup-tasks echo tasks as fast as this client can and measures the
   end-to-end peak rate (first submit to last result); the soak's rate is half of it, or
   --rate;
2. soak: submits echo tasks (and 1 in 50 a short sleep) at that rate in SubmitBatch calls
   with idempotency keys (retried on UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED)
   for --minutes, while one fault a minute (--fault-every) comes from a seeded cycle of
   nemeses: a reset of an executor's link, a black hole (healed after a few seconds), a
   SIGSTOP of an executor past its lease or of the scheduler, kill -9 and restart of an
   executor or of the scheduler, delay and throttle of an executor's link;
3. every --sample-every seconds (10) it writes a CSV row: scheduler RSS (VmRSS) and open
   fds, store size (taskwire.db + -wal), open fds of each executor, tasks submitted and
   done, the p50/p99 submit->done latency of the tasks that ended in the window (from the
   batch's send to the task's terminal event on a WatchTasks stream), and the fault done in
   the window;
4. at the end: waits (bounded) until no task waits or runs, and fails (exit 1) if any
   acknowledged task has not ended, or if fds or p99 grew (reported, not judged: the
   numbers are for bench/README.md).

    /usr/bin/python3 bench/soak.py --minutes 30 --out soak.csv          # the real one
    /usr/bin/python3 bench/soak.py --minutes 2 --out /tmp/soak.csv      # a check
    --rate N       tasks/s instead of half the warm-up's peak
    --bin-dir DIR  taskwire-scheduler and taskwire-executor from DIR (default: build/)
    --seed N       the fault cycle's seed (printed)

It stops early, saying so, if the scheduler's RSS passes --max-rss-mb (12288): today the
scheduler keeps every finished task in memory until its retention ends.
"""

import argparse
import collections
import csv
import os
import random
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.join(HERE, '..', 'tests', 'e2e')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--minutes', type=float, default=30.0)
    p.add_argument('--out', default='soak.csv', help='CSV file written (one row per sample)')
    p.add_argument('--rate', type=float, default=0.0,
                   help='tasks per second (default: half the warm-up peak)')
    p.add_argument('--warmup-tasks', type=int, default=20_000)
    p.add_argument('--fault-every', type=float, default=60.0, help='seconds between faults')
    p.add_argument('--sample-every', type=float, default=10.0)
    p.add_argument('--executors', type=int, default=2)
    p.add_argument('--slots', type=int, default=32, help='thread slots per executor')
    p.add_argument('--lease', type=float, default=10.0, help='scheduler --executor-timeout')
    p.add_argument('--heartbeat', type=float, default=1.0)
    p.add_argument('--batch', type=int, default=100)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--bin-dir', default='', help='dir with taskwire-scheduler and '
                   'taskwire-executor (default: build/scheduler and build/executor)')
    p.add_argument('--max-rss-mb', type=float, default=12288.0)
    p.add_argument('--end-wait', type=float, default=120.0,
                   help='seconds the end waits for every task to end')
    return p.parse_args()


ARGS = parse_args()
if ARGS.bin_dir:
    os.environ['TASKWIRE_SCHEDULER_BIN'] = os.path.join(ARGS.bin_dir, 'taskwire-scheduler')
    os.environ['TASKWIRE_EXECUTOR_BIN'] = os.path.join(ARGS.bin_dir, 'taskwire-executor')
sys.path.insert(0, E2E)
import grpc  # noqa: E402
import harness  # noqa: E402
import nemesis  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
scheduler_pb2 = pb.scheduler_pb2
TS = task_pb2.TaskState
TERMINAL = [TS.Value(f'TASK_STATE_{s}') for s in ('SUCCEEDED', 'FAILED', 'CANCELLED',
                                                   'EXPIRED')]
NOT_DONE = [TS.Value(f'TASK_STATE_{s}') for s in ('PENDING', 'SCHEDULED', 'QUEUED',
                                                   'RUNNING')]
RETRY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
               grpc.StatusCode.RESOURCE_EXHAUSTED)
CHANNEL_OPTIONS = [('grpc.initial_reconnect_backoff_ms', 100),
                   ('grpc.min_reconnect_backoff_ms', 100),
                   ('grpc.max_reconnect_backoff_ms', 500),
                   ('grpc.max_receive_message_length', 64 << 20)]
FAULTS = ['reset-executor', 'black-hole-executor', 'pause-executor', 'kill-executor',
          'pause-scheduler', 'kill-scheduler', 'delay-executor', 'throttle-executor']


def log(text):
    print(f'{time.strftime("%H:%M:%S")} {text}', flush=True)


def rss_kb(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def fds(pid):
    try:
        return len(os.listdir(f'/proc/{pid}/fd'))
    except OSError:
        return -1


def percentile(values, q):
    if not values:
        return ''
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Done:
    """Terminal events of the cluster's tasks, from a WatchTasks stream re-opened after
    every scheduler restart; latency = event time - the batch's send time."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.sent = {}              # task id -> wall time its batch was sent
        self.early = set()          # ids whose event came before their submit answered
        self.done = 0
        self.window = []            # latencies (s) since the last sample
        self.outcomes = collections.Counter()
        self.stop = False
        self.call = None
        self.reopened = 0
        self.subscribed = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True, name='watch')
        self.thread.start()

    def submitted(self, ids, sent_at):
        with self.lock:
            for task_id in ids:
                if task_id in self.early:
                    self.early.discard(task_id)
                    self.window.append(time.time() - sent_at)
                else:
                    self.sent[task_id] = sent_at

    def run(self):
        while not self.stop:
            try:
                channel = grpc.insecure_channel(self.cluster.address, options=CHANNEL_OPTIONS)
                stub = pb.scheduler_pb2_grpc.SchedulerStub(channel)
                self.call = stub.WatchTasks(scheduler_pb2.WatchTasksRequest(states=TERMINAL),
                                            wait_for_ready=True)
                self.call.initial_metadata()
                self.subscribed.set()
                for response in self.call:
                    now = time.time()
                    with self.lock:
                        for e in response.events:
                            self.done += 1
                            self.outcomes[harness.state_name(e.state)] += 1
                            at = self.sent.pop(e.task_id, None)
                            if at is None:
                                self.early.add(e.task_id)
                            else:
                                t = e.time.seconds + e.time.nanos / 1e9 if e.time.seconds else now
                                self.window.append(t - at)
            except grpc.RpcError:
                pass
            finally:
                try:
                    channel.close()
                except Exception:
                    pass
            if not self.stop:
                self.reopened += 1
                time.sleep(0.2)  # the scheduler restarts: reopen the stream soon

    def take_window(self):
        with self.lock:
            window, self.window = self.window, []
            return window, self.done

    def close(self):
        self.stop = True
        if self.call is not None:
            self.call.cancel()
        self.thread.join(5)


class Submitter:
    def __init__(self, cluster, done, rate, seed):
        self.channel = grpc.insecure_channel(cluster.address, options=CHANNEL_OPTIONS)
        self.stub = pb.scheduler_pb2_grpc.SchedulerStub(self.channel)
        self.done = done
        self.rate = rate
        self.seed = seed
        self.n = 0
        self.acknowledged = 0
        self.retries = collections.Counter()
        self.failed_batches = 0

    def batch(self, size, sleep_every=50):
        specs = []
        for _ in range(size):
            key = f'soak-{self.seed}-{self.n}'
            if self.n % sleep_every == sleep_every - 1:
                spec = task_pb2.TaskSpec(type='sleep', payload=b'20', idempotency_key=key)
            else:
                spec = task_pb2.TaskSpec(type='echo', payload=key.encode(), idempotency_key=key)
            specs.append(spec)
            self.n += 1
        request = scheduler_pb2.SubmitBatchRequest(tasks=specs)
        sent = time.time()

        def on_retry(e):
            self.retries[e.code().name] += 1
        try:
            response = harness.call_until_answered(
                lambda: self.stub.SubmitBatch(request, timeout=5.0), 60.0, codes=RETRY_CODES,
                pause=0.1, on_retry=on_retry)
        except grpc.RpcError as e:
            self.failed_batches += 1
            log(f'a batch of {size} failed for good: {e.code()} {e.details()}')
            return []
        self.done.submitted(response.task_ids, sent)
        self.acknowledged += len(response.task_ids)
        return response.task_ids

    def run_for(self, seconds, stop):
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < seconds and not stop.is_set():
            due = started + sent / self.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the load
            self.batch(ARGS.batch)
            sent += ARGS.batch

    def close(self):
        self.channel.close()


def warm_up(cluster, done):
    """The end-to-end peak: --warmup-tasks echoes as fast as this client submits them."""
    sub = Submitter(cluster, done, rate=1e9, seed=f'warmup{ARGS.seed}')
    _, before = done.take_window()
    t0 = time.monotonic()
    for _ in range(ARGS.warmup_tasks // 500):
        sub.batch(500, sleep_every=10**9)
    submitted_in = time.monotonic() - t0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _, now_done = done.take_window()
        if now_done - before >= sub.acknowledged:
            break
        time.sleep(0.05)  # polling the watcher's count
    took = time.monotonic() - t0
    sub.close()
    peak = sub.acknowledged / took
    log(f'warm-up: {sub.acknowledged} tasks in {took:.1f}s ({peak:.0f}/s end to end; '
        f'submits took {submitted_in:.1f}s)')
    return peak


class Faults:
    def __init__(self, cluster, proxies, executor_args, seed, lease):
        self.cluster = cluster
        self.proxies = proxies
        self.executor_args = executor_args
        self.rng = random.Random(seed)
        self.lease = lease
        self.pauses = nemesis.Pauses()
        self.order = list(FAULTS)
        self.rng.shuffle(self.order)
        self.count = 0
        self.last = ''

    def one(self):
        kind = self.order[self.count % len(self.order)]
        self.count += 1
        target = self.rng.choice(sorted(self.proxies))
        proxy = self.proxies[target]
        t0 = time.monotonic()
        if kind == 'reset-executor':
            proxy.reset()
        elif kind == 'black-hole-executor':
            conns = proxy.connections()
            for c in conns:
                proxy.black_hole(c)
            time.sleep(self.lease / 2)  # the fault's length
            for c in conns:
                proxy.heal(c)
        elif kind == 'pause-executor':
            self.pauses.pause(self.cluster.executors[target])
            time.sleep(self.lease + 2)  # past the lease on purpose
            self.pauses.resume(self.cluster.executors[target])
        elif kind == 'pause-scheduler':
            self.pauses.pause(self.cluster.scheduler)
            time.sleep(3)
            self.pauses.resume(self.cluster.scheduler)
        elif kind == 'kill-executor':
            harness.restart_executor(self.cluster, target, wait_linked=False,
                                     **self.executor_args[target])
        elif kind == 'kill-scheduler':
            self.cluster.restart_scheduler(*scheduler_args())
        elif kind == 'delay-executor':
            proxy.delay(0.2)
            time.sleep(5)
            proxy.heal()
        elif kind == 'throttle-executor':
            proxy.throttle(50_000)
            time.sleep(5)
            proxy.heal()
        what = kind.replace('-executor', f'-executor {target}') if 'executor' in kind else kind
        self.last = (self.last + '; ' if self.last else '') + what
        log(f'fault {self.count}: {what} ({time.monotonic() - t0:.1f}s)')

    def take(self):
        last, self.last = self.last, ''
        return last


def scheduler_args():
    return ('--executor-timeout', str(ARGS.lease), '--heartbeat-interval', str(ARGS.heartbeat))


def not_done(cluster):
    channel = grpc.insecure_channel(cluster.address, options=CHANNEL_OPTIONS)
    try:
        stub = pb.scheduler_pb2_grpc.SchedulerStub(channel)
        counts = {}
        for state in NOT_DONE:
            page = harness.call_until_answered(
                lambda: stub.ListTasks(scheduler_pb2.ListTasksRequest(state=state, page_size=1000),
                                       timeout=30), 30, codes=RETRY_CODES)
            if page.tasks:
                counts[harness.state_name(state)] = (len(page.tasks) if not page.next_page_token
                                                     else f'{len(page.tasks)}+')
        return counts
    finally:
        channel.close()


def main():
    seed = ARGS.seed or random.randrange(1, 2**31)
    log(f'soak: {ARGS.minutes} min, seed {seed}, CSV to {ARGS.out}')
    cluster = harness.Cluster('soak')
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    proxies = {}
    faults = None
    done = None
    ok = True
    try:
        cluster.start_scheduler(*scheduler_args())
        executor_args = {}
        for i in range(ARGS.executors):
            executor_id = f'soak-{i}'
            proxy = nemesis.TcpProxy(cluster.address, f'link-{executor_id}')
            proxies[executor_id] = proxy
            executor_args[executor_id] = dict(
                slots=ARGS.slots, extra_args=('--max-backoff', '0.5', '--kill-grace', '1'),
                scheduler_address=proxy.address)
            cluster.start_executor(executor_id, **executor_args[executor_id])
        done = Done(cluster)
        done.subscribed.wait(10)
        rate = ARGS.rate or warm_up(cluster, done) / 2
        log(f'soak rate: {rate:.0f} tasks/s, a fault every {ARGS.fault_every:.0f}s')
        faults = Faults(cluster, proxies, executor_args, seed, ARGS.lease)
        sub = Submitter(cluster, done, rate, seed)
        _, baseline = done.take_window()  # the warm-up's tasks
        submit_thread = threading.Thread(target=sub.run_for, args=(ARGS.minutes * 60, stop),
                                         daemon=True, name='submit')
        fault_stop = threading.Event()

        def fault_loop():
            n = 1
            while not fault_stop.wait(max(0.0, t0 + n * ARGS.fault_every - time.monotonic())):
                try:
                    faults.one()
                except Exception as e:  # a failed restart: said, and the soak goes on
                    log(f'fault failed: {e!r}')
                n += 1

        t0 = time.monotonic()
        submit_thread.start()
        fault_thread = threading.Thread(target=fault_loop, daemon=True, name='faults')
        fault_thread.start()
        executors_ids = sorted(executor_args)
        columns = (['time_utc', 'elapsed_s', 'scheduler_rss_mb', 'scheduler_fds',
                    'store_mb'] + [f'{e}_fds' for e in executors_ids] +
                   ['submitted', 'done', 'in_flight', 'window_done', 'p50_ms', 'p99_ms',
                    'fault'])
        first_fds = None
        rows = []
        with open(ARGS.out, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            n = 1
            while True:
                end = not submit_thread.is_alive()
                if not end:
                    time.sleep(max(0.0, t0 + n * ARGS.sample_every - time.monotonic()))
                n += 1
                window, total_done = done.take_window()
                pid = cluster.scheduler.pid
                db = os.path.join(cluster.dir, 'data', 'taskwire.db')
                store = sum(os.path.getsize(p) for p in (db, db + '-wal') if os.path.exists(p))
                exec_fds = [fds(cluster.executors[e].pid) for e in executors_ids]
                rss = rss_kb(pid) / 1024
                row = [time.strftime('%H:%M:%S', time.gmtime()), round(time.monotonic() - t0),
                       round(rss, 1), fds(pid), round(store / 2**20, 1), *exec_fds,
                       sub.acknowledged, total_done - baseline,
                       sub.acknowledged - (total_done - baseline), len(window),
                       round(percentile(window, 0.50) * 1000, 1) if window else '',
                       round(percentile(window, 0.99) * 1000, 1) if window else '',
                       faults.take()]
                writer.writerow(row)
                f.flush()
                rows.append(row)
                log(' '.join(f'{c}={v}' for c, v in zip(columns, row)))
                if first_fds is None:
                    first_fds = (row[3], exec_fds)
                if rss > ARGS.max_rss_mb:
                    log(f'STOPPING EARLY: scheduler RSS {rss:.0f} MB > --max-rss-mb')
                    stop.set()
                    ok = False
                if end:
                    break
                if not submit_thread.is_alive():
                    fault_stop.set()  # no fault after the load ends
        fault_stop.set()
        fault_thread.join(ARGS.lease + 30)
        faults.pauses.resume_all()
        for p in proxies.values():
            p.heal()
        submit_thread.join(60)
        sub.close()

        # Every acknowledged task ends.
        deadline = time.monotonic() + ARGS.end_wait
        counts = not_done(cluster)
        while counts and time.monotonic() < deadline:
            time.sleep(1.0)  # a poll with a deadline
            counts = not_done(cluster)
        _, total_done = done.take_window()
        log(f'end: {sub.acknowledged} tasks acknowledged ({dict(sub.retries)} retried calls, '
            f'{sub.failed_batches} batches failed for good), {total_done - baseline} terminal '
            f'events seen (outcomes with the warm-up\'s: {dict(done.outcomes)}; the stream '
            f'reopened {done.reopened} times: events during a scheduler restart are not '
            f'seen), not done: {counts or "none"}')
        if counts:
            log(f'FAILED: tasks still not terminal {ARGS.end_wait:.0f}s after the end: {counts}')
            ok = False
        if rows:
            last = rows[-1]
            log(f'scheduler fds {first_fds[0]} -> {last[3]}, executors {first_fds[1]} -> '
                f'{last[5:5 + len(executors_ids)]}; RSS {rows[0][2]} -> {last[2]} MB; store '
                f'{rows[0][4]} -> {last[4]} MB')
    finally:
        stop.set()
        if faults is not None:
            faults.pauses.resume_all()
        if done is not None:
            done.close()
        for p in proxies.values():
            p.close()
        try:
            cluster.close()
        except harness.HarnessError as e:
            log(f'stopping the cluster: {str(e)[:2000]}')
            ok = False
        cluster.remove()
    log('soak ' + ('OK' if ok else 'FAILED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
