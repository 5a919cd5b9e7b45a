// Fuzzes the store's record decoding (scheduler/store/record_codec.h), which reads back
// what an earlier scheduler wrote to disk, and the recovery of what it decodes. An input
// is three length-prefixed parts: a task record, a spec blob and a workflow record.
// Checks: every decode answers a record or DATA_LOSS; a decoded record encodes to bytes
// that decode again to the same encoding (the codec's fixed point); and, for records that
// decode, a core recovers them from a memory store (Recover, Tick, an executor that
// answers what it is sent) without a crash or a failed assert: stored bytes are never
// trusted.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
#include "scheduler/store/memory_task_store.h"
#include "scheduler/store/record_codec.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/unit/fake_executor_channel.h"

namespace taskwire::scheduler {
namespace {

using fuzz::ByteReader;

// A part: a two-byte big-endian length, then that many bytes.
std::string Part(ByteReader& in) {
  const size_t n = (size_t{in.Byte()} << 8) | in.Byte();
  std::string s;
  for (size_t i = 0; i < n && !in.empty(); ++i) s.push_back(static_cast<char>(in.Byte()));
  return s;
}

std::optional<TaskRecord> CheckTask(const std::string& record, const std::string& spec) {
  absl::StatusOr<TaskRecord> decoded = DecodeTask(record, spec);
  if (!decoded.ok()) {
    TASKWIRE_FUZZ_CHECK(absl::IsDataLoss(decoded.status()), decoded.status().ToString());
    return std::nullopt;
  }
  TASKWIRE_FUZZ_CHECK(decoded->spec != nullptr, "a decoded task without a spec");
  const std::string rest = EncodeTask(*decoded);
  const std::string spec_blob = EncodeTaskSpec(*decoded->spec);
  absl::StatusOr<TaskRecord> again = DecodeTask(rest, spec_blob);
  TASKWIRE_FUZZ_CHECK(again.ok(), again.status().ToString());
  TASKWIRE_FUZZ_CHECK(EncodeTask(*again) == rest, "a task's encoding changed on a round trip");
  TASKWIRE_FUZZ_CHECK(EncodeTaskSpec(*again->spec) == spec_blob,
                      "a spec's encoding changed on a round trip");
  return *std::move(decoded);
}

std::optional<WorkflowRecord> CheckWorkflow(const std::string& bytes) {
  absl::StatusOr<WorkflowRecord> decoded = DecodeWorkflow(bytes);
  if (!decoded.ok()) {
    TASKWIRE_FUZZ_CHECK(absl::IsDataLoss(decoded.status()), decoded.status().ToString());
    return std::nullopt;
  }
  const std::string encoded = EncodeWorkflow(*decoded);
  absl::StatusOr<WorkflowRecord> again = DecodeWorkflow(encoded);
  TASKWIRE_FUZZ_CHECK(again.ok(), again.status().ToString());
  TASKWIRE_FUZZ_CHECK(EncodeWorkflow(*again) == encoded,
                      "a workflow's encoding changed on a round trip");
  return *std::move(decoded);
}

// What a restart over these records does: recover, run the timers, let an executor take
// and answer what it is sent.
void Recover(std::optional<TaskRecord> task, std::optional<WorkflowRecord> workflow,
             ByteReader& choices) {
  FakeClock clock;
  MemoryTaskStore store;
  StoreBatch batch;
  std::string type = "echo";
  std::string queue(kDefaultQueue);
  if (task) {
    type = task->spec->type;
    queue = task->spec->queue;
    batch.tasks.push_back(*std::move(task));
  }
  if (workflow) batch.workflows.push_back(*std::move(workflow));
  if (!store.Commit(batch).ok()) return;
  EventHub events;
  SchedulerCore core(clock, store, events, /*metrics=*/nullptr, CoreOptions{});
  if (!core.Recover().ok()) return;

  ExecutorHello hello;
  hello.executor_id = choices.Bool() ? "fuzz" : "";
  hello.incarnation = "fuzz-1";
  hello.task_types.push_back({type, RunMode::kThread});
  hello.queues.push_back(queue);
  hello.slots = 2;
  auto channel = std::make_shared<testing::FakeExecutorChannel>();
  absl::StatusOr<ExecutorSession> session = core.ConnectExecutor(std::move(hello), channel);
  for (int round = 0; round < 4; ++round) {
    if (session.ok()) {
      for (const AssignmentOut& a : channel->TakeAssignments()) {
        AttemptResult result;
        result.task_id = a.task_id;
        result.attempt = a.attempt;
        result.outcome = choices.Bool() ? AttemptOutcome::kSucceeded : AttemptOutcome::kFailed;
        core.OnResults(*session, {std::move(result)});
      }
    }
    clock.Advance(absl::Seconds(1 + choices.Below(100'000)));
    core.Tick();
  }
  for (const TaskRecord& t : batch.tasks) (void)core.GetTask(t.id);
  for (const WorkflowRecord& w : batch.workflows) {
    (void)core.GetWorkflow(w.id);
    (void)core.CancelWorkflow(w.id);
  }
}

}  // namespace
}  // namespace taskwire::scheduler

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs a line for each string field with invalid UTF-8: too many to read.
  google::protobuf::SetLogHandler(nullptr);
  // Recovery logs errors about the records it repairs or skips: that is its job.
  taskwire::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taskwire::scheduler;  // NOLINT(google-build-using-namespace): one function
  const std::string whole(reinterpret_cast<const char*>(data), size);
  // Every entry point on the whole input as it is.
  CheckTask(whole, "");
  CheckTask(whole, whole);
  CheckWorkflow(whole);
  // Then the input as parts, and a restart over what decodes.
  taskwire::fuzz::ByteReader in(data, size);
  const std::string task = Part(in);
  const std::string spec = Part(in);
  const std::string workflow = Part(in);
  std::optional<TaskRecord> t = CheckTask(task, spec);
  std::optional<WorkflowRecord> w = CheckWorkflow(workflow);
  if (t || w) Recover(std::move(t), std::move(w), in);
  return 0;
}
