// QueueLoad: how much work one queue holds now and which executors could take it, as
// SchedulerCore::LoadOfQueue reports it. Autoscalers read it (the KEDA external scaler,
// scheduler/service/keda_scaler_service.h): waiting + running is the work a queue's
// executors have to carry, and the executors' slots say how much one replica carries.
#ifndef TASKWIRE_SCHEDULER_CORE_QUEUE_LOAD_H_
#define TASKWIRE_SCHEDULER_CORE_QUEUE_LOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace taskwire::scheduler {

struct QueueLoad {
  // QUEUED tasks of the queue: ready to run, waiting for a slot. Tasks that wait for an
  // ETA, a retry's backoff or their upstream tasks (SCHEDULED, PENDING) are not counted
  // until they become ready.
  size_t waiting = 0;
  // Of `waiting`: tasks of a (queue, type) lane that no connected executor serves (a
  // draining executor serves nothing). With no executor connected, every waiting task.
  size_t waiting_unserved = 0;
  // RUNNING tasks of the queue: on a connected executor, or recovered after a restart and
  // waiting for their executor to reconnect.
  size_t running = 0;

  // A connected, not draining executor that serves at least one type on the queue.
  struct Executor {
    std::string id;
    // Its slots in the credit windows that hold the queue's types, apart from the
    // event-loop window: thread and process slots, or the one shared window of an
    // executor that announced no slots per run mode.
    uint32_t slots = 0;
    // Its event-loop slots that hold the queue's types (thousands of cheap waits).
    uint32_t event_loop_slots = 0;
    bool operator==(const Executor&) const = default;
  };
  std::vector<Executor> executors;  // in connection order
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_QUEUE_LOAD_H_
