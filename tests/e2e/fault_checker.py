"""What must hold after faults, read back from a live scheduler.

`Checker` reads every task (ListTasks, then GetTask for the ones it reports) and workflow
(GetWorkflow) back once the faults have stopped and asserts:

- every acknowledged submit exists (tasks and workflows);
- every task is terminal within `lease + heartbeat + 5 s` after the last fault (waited for
  in a bounded poll; the bound is the caller's);
- every attempt of a terminal task has an outcome, attempts are numbered 1..n;
- at most one attempt SUCCEEDED, and it is the last one (nothing re-ran after a success);
- every attempt followed by another ended LOST or CANCELLED (by the executor: a drain), or
  FAILED / TIMED_OUT while the retry policy allowed another attempt (not not_retryable,
  counted failures below max_attempts);
- a task's state agrees with its last attempt and with what the workload expects of it
  (echo, thread.sleep, primes and process tasks succeed; flaky:N succeeds iff max_attempts > N; a
  task whose CancelTask answered CANCELLED is CANCELLED);
- workflow states agree with their nodes (SUCCEEDED iff every node SUCCEEDED; FAILED names
  a FAILED/EXPIRED node in decided_by; nodes that ran had every upstream SUCCEEDED; every
  node is terminal once the workflow is);
- once idle, each executor's slots_used in ListExecutors equals its own
  taskwire_executor_local_slots{state="used"} (and both are 0).

Each violation comes with the task's full history (attempts: number, executor, outcome,
error), so a failing seed can be read without rerunning it.
"""

import collections
import os
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import nemesis  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
workflow_pb2 = pb.workflow_pb2
scheduler_pb2 = pb.scheduler_pb2
TaskState = task_pb2.TaskState
Outcome = task_pb2.AttemptOutcome
WorkflowState = workflow_pb2.WorkflowState

S = {name: TaskState.Value(f'TASK_STATE_{name}') for name in
     ('PENDING', 'SCHEDULED', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED',
      'EXPIRED')}
O = {name: Outcome.Value(f'ATTEMPT_OUTCOME_{name}') for name in
     ('UNSPECIFIED', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'LOST', 'TIMED_OUT')}
W = {name: WorkflowState.Value(f'WORKFLOW_STATE_{name}') for name in
     ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')}
TERMINAL = {S['SUCCEEDED'], S['FAILED'], S['CANCELLED'], S['EXPIRED']}
NOT_DONE = [S['PENDING'], S['SCHEDULED'], S['QUEUED'], S['RUNNING']]
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# The client redials a restarted scheduler within half a second.
CHANNEL_OPTIONS = [('grpc.initial_reconnect_backoff_ms', 100),
                   ('grpc.min_reconnect_backoff_ms', 100),
                   ('grpc.max_reconnect_backoff_ms', 500)]


def outcome_name(outcome):
    return Outcome.Name(outcome).replace('ATTEMPT_OUTCOME_', '')


def call(fn, request, timeout=harness.RPC_TIMEOUT, retry_for=30.0, codes=RETRYABLE):
    """fn(request) retried on UNAVAILABLE / DEADLINE_EXCEEDED for `retry_for` seconds."""
    return harness.call_until_answered(lambda: fn(request, timeout=timeout), retry_for,
                                       codes=codes, pause=0.1)


def get_task(stub, task_id, retry_for=30.0):
    return call(stub.GetTask, scheduler_pb2.GetTaskRequest(task_id=task_id),
                retry_for=retry_for)


def history(task):
    """The task's full history as text: state, error, every attempt."""
    lines = [f'task {task.id} type={task.spec.type} payload={task.spec.payload[:60]!r} '
             f'state={harness.state_name(task.state)} error={task.error!r}'
             + (f' workflow={task.workflow_id}/{task.node}' if task.workflow_id else '')]
    for a in task.attempts:
        finished = (f'{a.finished_at.ToDatetime():%H:%M:%S.%f}'[:-3]
                    if a.HasField('finished_at') else '-')
        lines.append(f'  attempt {a.number} on {a.executor_id or "?"}: '
                     f'{outcome_name(a.outcome)} assigned '
                     f'{a.assigned_at.ToDatetime():%H:%M:%S.%f}'[:-3] +
                     f' finished {finished} error={a.error!r}'
                     + (' not_retryable' if a.not_retryable else ''))
    return '\n'.join(lines)


def attempt_violations(task, default_max_attempts=1, max_lost_attempts=5):
    """What is wrong with a terminal task's attempts (a list of strings, empty if fine)."""
    problems = []
    attempts = list(task.attempts)
    numbers = [a.number for a in attempts]
    if numbers != list(range(1, len(attempts) + 1)):
        problems.append(f'attempts numbered {numbers}')
    succeeded = [a.number for a in attempts if a.outcome == O['SUCCEEDED']]
    if len(succeeded) > 1:
        problems.append(f'{len(succeeded)} attempts SUCCEEDED: {succeeded}')
    max_attempts = task.spec.retry.max_attempts or default_max_attempts
    counted = 0
    for i, a in enumerate(attempts):
        last = i == len(attempts) - 1
        if task.state in TERMINAL and a.outcome == O['UNSPECIFIED']:
            problems.append(f'attempt {a.number} has no outcome in a '
                            f'{harness.state_name(task.state)} task')
        if a.outcome in (O['FAILED'], O['TIMED_OUT']):
            counted += 1
        if last:
            continue
        if a.outcome == O['SUCCEEDED']:
            problems.append(f'attempt {a.number} SUCCEEDED and attempt {a.number + 1} ran after')
        elif a.outcome in (O['FAILED'], O['TIMED_OUT']):
            if a.not_retryable:
                problems.append(f'attempt {a.number} failed not_retryable and was re-run')
            elif counted >= max_attempts:
                problems.append(f'attempt {a.number} was failure {counted} of max_attempts '
                                f'{max_attempts} and was re-run')
        elif a.outcome == O['UNSPECIFIED']:
            problems.append(f'attempt {a.number} has no outcome but attempt '
                            f'{a.number + 1} was assigned')
    lost = sum(a.outcome == O['LOST'] for a in attempts)
    if lost > max_lost_attempts:
        problems.append(f'{lost} attempts LOST, above --max-lost-attempts {max_lost_attempts}')
    if attempts:
        final = attempts[-1].outcome
        if task.state == S['SUCCEEDED'] and final != O['SUCCEEDED']:
            problems.append(f'SUCCEEDED but its last attempt is {outcome_name(final)}')
        if task.state != S['SUCCEEDED'] and succeeded:
            problems.append(f'{harness.state_name(task.state)} though attempt {succeeded} '
                            'SUCCEEDED')
        if task.state == S['FAILED'] and final not in (O['FAILED'], O['TIMED_OUT'], O['LOST']):
            problems.append(f'FAILED but its last attempt is {outcome_name(final)}')
    elif task.state == S['SUCCEEDED']:
        problems.append('SUCCEEDED without an attempt')
    return problems


class Checker:
    """Collects the workload's acknowledged submits and checks them (see the module doc).

    expect(task_id, kind, want) records a task: `want` is a set of acceptable terminal state
    names, a function of the read-back Task returning one, or None for any.
    expect_workflow(workflow_id, task_ids, kind) records a workflow.
    """

    def __init__(self, stub, default_max_attempts=1, max_lost_attempts=5, out=None):
        self.stub = stub
        self.default_max_attempts = default_max_attempts
        self.max_lost_attempts = max_lost_attempts
        self.tasks = {}        # task id -> (kind, set of acceptable state names or None)
        self.workflows = {}    # workflow id -> (kind, node task ids)
        self.violations = []   # text blocks
        self.out = out or sys.stdout

    def expect(self, task_id, kind, want=None):
        if want is not None and not callable(want):
            want = set(want)
        self.tasks[task_id] = (kind, want)

    def expect_workflow(self, workflow_id, task_ids, kind):
        self.workflows[workflow_id] = (kind, list(task_ids))
        for t in task_ids:
            self.tasks.setdefault(t, (f'{kind} node', None))

    def violation(self, text):
        self.violations.append(text)

    # --- waiting

    def wait_all_terminal(self, bound):
        """Polls (bounded by `bound` seconds) until no task waits or runs. Returns the
        seconds it took, or None if the bound passed (a violation is recorded)."""
        started = time.monotonic()
        deadline = started + bound
        remaining = {}
        while True:
            remaining = {}
            for state in NOT_DONE:
                try:
                    tasks = harness.call_until_answered(
                        lambda: harness.list_all_tasks(self.stub, state=state), 10.0,
                        codes=RETRYABLE, pause=0.1)
                except grpc.RpcError as e:
                    self.violation(f'ListTasks failed while waiting: {e.code()} {e.details()}')
                    return None
                for t in tasks:
                    remaining[t.id] = t
            if not remaining:
                return time.monotonic() - started
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)  # a poll with a deadline: there is no "all done" event
        self.violation(f'{len(remaining)} tasks not terminal {bound:.1f}s after the last '
                       f'fault (their histories below): {sorted(remaining)[:10]}')
        return None

    # --- checks

    def check_tasks(self):
        listing = harness.call_until_answered(lambda: harness.list_all_tasks(self.stub), 30.0,
                                              codes=RETRYABLE, pause=0.1)
        by_id = {}
        for t in listing:
            if t.id in by_id:
                self.violation(f'task {t.id} listed twice')
            by_id[t.id] = t
        missing = [i for i in self.tasks if i not in by_id]
        for task_id in missing[:20]:
            try:
                found = 'GetTask finds it:\n' + history(get_task(self.stub, task_id, 5))
            except grpc.RpcError as e:
                found = f'GetTask: {e.code().name} {e.details()[:200]}'
            self.violation(f'acknowledged task {task_id} ({self.tasks[task_id][0]}) is missing '
                           f'from ListTasks; {found}')
        if len(missing) > 20:
            self.violation(f'... and {len(missing) - 20} more acknowledged tasks missing')
        unknown = [i for i in by_id if i not in self.tasks]
        if unknown:
            self.violation(f'{len(unknown)} tasks in ListTasks nobody was acknowledged for:\n'
                           + '\n'.join(f'key {by_id[i].spec.idempotency_key!r} '
                                        f'created {by_id[i].created_at.ToJsonString()}: '
                                        + history(by_id[i]) for i in unknown[:5]))
        reported = 0
        for task_id, (kind, want) in self.tasks.items():
            t = by_id.get(task_id)
            if t is None:
                continue
            problems = attempt_violations(t, self.default_max_attempts, self.max_lost_attempts)
            if t.state not in TERMINAL:
                problems.append('not terminal')
            state = harness.state_name(t.state)
            if callable(want):
                want = want(t)
            if want is not None and state not in want:
                problems.append(f'{kind}: ended {state}, expected one of {sorted(want)}')
            if problems and reported < 30:
                reported += 1
                try:
                    full = get_task(self.stub, task_id, retry_for=5)
                except grpc.RpcError:
                    full = t
                self.violation(f'{kind}: ' + '; '.join(problems) + '\n' + history(full))
        return by_id

    def check_workflows(self, tasks_by_id):
        for workflow_id, (kind, task_ids) in self.workflows.items():
            try:
                wf = call(self.stub.GetWorkflow,
                          scheduler_pb2.GetWorkflowRequest(workflow_id=workflow_id))
            except grpc.RpcError as e:
                self.violation(f'workflow {workflow_id} ({kind}): GetWorkflow {e.code()} '
                               f'{e.details()}')
                continue
            problems = []
            nodes = {n.name: n for n in wf.nodes}
            node_ids = sorted(n.task.id for n in wf.nodes)
            if node_ids != sorted(task_ids):
                problems.append(f'nodes {node_ids} are not the acknowledged {sorted(task_ids)}')
            states = {n.name: n.task.state for n in wf.nodes}
            all_ok = all(s == S['SUCCEEDED'] for s in states.values())
            if wf.state == W['RUNNING']:
                problems.append('still RUNNING')
            if all_ok != (wf.state == W['SUCCEEDED']):
                problems.append(f'workflow {harness.workflow_state_name(wf.state)} but nodes '
                                f'{ {k: harness.state_name(v) for k, v in states.items()} }')
            if wf.state != W['RUNNING'] and any(s not in TERMINAL for s in states.values()):
                problems.append('ended with nodes not terminal')
            if wf.state == W['FAILED']:
                decider = nodes.get(wf.decided_by)
                if decider is None or decider.task.state not in (S['FAILED'], S['EXPIRED']):
                    problems.append(f'FAILED, decided_by {wf.decided_by!r} is not a failed node')
            if wf.state == W['CANCELLED'] and not any(s == S['CANCELLED']
                                                      for s in states.values()):
                problems.append('CANCELLED without a cancelled node')
            for n in wf.nodes:
                if n.task.attempts:
                    for up in n.after:
                        if up in nodes and nodes[up].task.state != S['SUCCEEDED']:
                            problems.append(f'node {n.name} ran though upstream {up} is '
                                            f'{harness.state_name(nodes[up].task.state)}')
            if wf.state == W['SUCCEEDED']:
                sinks = [n.name for n in wf.nodes
                         if not any(n.name in m.after for m in wf.nodes)]
                if [r.node for r in wf.results] != sinks:
                    problems.append(f'results of {[r.node for r in wf.results]}, sinks {sinks}')
            if problems:
                self.violation(f'workflow {workflow_id} ({kind}) '
                               f'{harness.workflow_state_name(wf.state)} '
                               f'decided_by={wf.decided_by!r} error={wf.error!r}: '
                               + '; '.join(problems) + '\n'
                               + '\n'.join(history(n.task) for n in wf.nodes))

    def check_slots(self, executors, settle=10.0):
        """executors: {id: Process} of the live executors. Polls (bounded) until the
        scheduler's and each executor's used slots agree at 0."""
        deadline = time.monotonic() + settle
        while True:
            mismatch = []
            try:
                listed = call(self.stub.ListExecutors, scheduler_pb2.ListExecutorsRequest())
            except grpc.RpcError as e:
                self.violation(f'ListExecutors: {e.code()} {e.details()}')
                return
            counts = collections.Counter(e.id for e in listed.executors)
            used = {e.id: e.slots_used for e in listed.executors}
            for executor_id, process in executors.items():
                try:
                    samples = nemesis.scrape(process.ready['metrics'])
                    own = nemesis.metric(samples, 'taskwire_executor_local_slots', state='used')
                except OSError as e:
                    own = f'(scrape failed: {e})'
                if counts[executor_id] != 1:
                    mismatch.append(f'{executor_id} (alive, pid {process.pid}) listed '
                                    f'{counts[executor_id]} times by ListExecutors'
                                    + (': not linked' if counts[executor_id] == 0 else ''))
                if used.get(executor_id) != 0 or own != 0:
                    mismatch.append(f'{executor_id}: scheduler slots_used={used.get(executor_id)}'
                                    f', executor local_slots{{used}}={own}')
            if not mismatch:
                return
            if time.monotonic() >= deadline:
                self.violation(f'slot counts disagree {settle}s after all tasks ended: '
                               + '; '.join(mismatch))
                return
            time.sleep(0.25)  # a poll with a deadline: the counts settle asynchronously

    def report(self):
        """The violations as one text (empty if none)."""
        if not self.violations:
            return ''
        return (f'{len(self.violations)} violations:\n\n' +
                '\n\n'.join(self.violations))
