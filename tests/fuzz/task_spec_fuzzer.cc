// Fuzzes a client's TaskSpec on its way into the scheduler: the bytes as a
// taskwire.v1.TaskSpec (what SubmitTask receives), converted (proto_convert.h), validated
// (task_validation.h) and, when valid, submitted to a core over the memory store; and the
// bytes as the payload of an otherwise valid spec.
// Checks: validation answers OK or INVALID_ARGUMENT; the core accepts exactly the specs
// validation accepts; a submitted task is waiting (SCHEDULED or QUEUED), stays in a legal
// state as time passes, and a cancel ends it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/task_validation.h"
#include "scheduler/service/proto_convert.h"
#include "scheduler/store/memory_task_store.h"
#include "taskwire/v1/task.pb.h"
#include "tests/fuzz/fuzz_support.h"

namespace taskwire::scheduler {
namespace {

void SubmitValid(const TaskSpec& spec) {
  FakeClock clock;
  MemoryTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, /*metrics=*/nullptr, CoreOptions{});
  absl::StatusOr<std::vector<std::string>> ids = core.Submit({spec}, SchedulerCore::SubmitPath::kOne);
  TASKWIRE_FUZZ_CHECK(ids.ok(), ids.status().ToString());
  TASKWIRE_FUZZ_CHECK(ids->size() == 1, "one id for one spec");
  const std::string& id = ids->front();

  absl::StatusOr<TaskView> view = core.GetTask(id);
  TASKWIRE_FUZZ_CHECK(view.ok(), view.status().ToString());
  const TaskState first = view->record.state;
  TASKWIRE_FUZZ_CHECK(first == TaskState::kQueued || first == TaskState::kScheduled,
                      TaskStateName(first));

  // Time passes: an ETA may come, an expiry may pass; never anything but waiting or expired
  // without an executor. An expired task may be past its retention too, and gone.
  for (absl::Duration step : {absl::Seconds(1), absl::Hours(1), absl::Hours(24 * 400)}) {
    clock.Advance(step);
    core.Tick();
    view = core.GetTask(id);
    if (absl::IsNotFound(view.status())) {
      TASKWIRE_FUZZ_CHECK(spec.expires_after > absl::ZeroDuration(), "a task vanished");
      return;
    }
    TASKWIRE_FUZZ_CHECK(view.ok(), view.status().ToString());
    const TaskState s = view->record.state;
    TASKWIRE_FUZZ_CHECK(s == TaskState::kQueued || s == TaskState::kScheduled ||
                            s == TaskState::kExpired,
                        TaskStateName(s));
  }
  absl::StatusOr<TaskState> after_cancel = core.CancelTask(id);
  TASKWIRE_FUZZ_CHECK(after_cancel.ok(), after_cancel.status().ToString());
  TASKWIRE_FUZZ_CHECK(IsTerminal(*after_cancel), TaskStateName(*after_cancel));
}

// Returns whether the spec was valid.
bool Check(v1::TaskSpec proto) {
  TaskSpec spec = FromProto(std::move(proto));
  // As the core's submit path does: no queue is the default queue.
  if (spec.queue.empty()) spec.queue = std::string(kDefaultQueue);
  const absl::Status valid = ValidateTaskSpec("task", spec, CoreOptions{}.limits);
  TASKWIRE_FUZZ_CHECK(valid.ok() || absl::IsInvalidArgument(valid), valid.ToString());
  if (!valid.ok()) {
    // The core refuses it the same way.
    FakeClock clock;
    MemoryTaskStore store;
    EventHub events;
    SchedulerCore core(clock, store, events, nullptr, CoreOptions{});
    absl::StatusOr<std::vector<std::string>> ids =
        core.Submit({std::move(spec)}, SchedulerCore::SubmitPath::kOne);
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(ids.status()), ids.status().ToString());
    return false;
  }
  SubmitValid(spec);
  return true;
}

}  // namespace
}  // namespace taskwire::scheduler

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs a line for each string field with invalid UTF-8: too many to read.
  google::protobuf::SetLogHandler(nullptr);
  taskwire::fuzz::FailOnErrorLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace v1 = taskwire::v1;
  v1::TaskSpec parsed;
  if (parsed.ParseFromArray(data, static_cast<int>(size))) {
    taskwire::scheduler::Check(std::move(parsed));
  }
  // Any bytes are a valid payload (within the size limit).
  v1::TaskSpec carrier;
  carrier.set_type("echo");
  carrier.set_payload(reinterpret_cast<const char*>(data), size);
  const bool valid = taskwire::scheduler::Check(std::move(carrier));
  TASKWIRE_FUZZ_CHECK(valid || size > taskwire::scheduler::TaskLimits{}.max_payload_bytes,
                      "a payload within the limit was refused");
  return 0;
}
