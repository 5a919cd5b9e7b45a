// The one place that turns scheduler records into stored bytes and back: TaskRecord and
// WorkflowRecord <-> the messages of proto/taskwire/store/v1/stored_records.proto. A field
// added to a record is added here (both directions) and to that proto, with a new number.
//
// A task is kept as two blobs: its spec, written once when it is submitted, and the rest of
// its record, rewritten at every change (so a payload of megabytes is written once):
//
//   std::string spec = EncodeTaskSpec(*record.spec);
//   std::string rest = EncodeTask(record);                 // everything but the spec
//   absl::StatusOr<TaskRecord> back = DecodeTask(rest, spec);  // DATA_LOSS if bad bytes
//
// Times are kept to the microsecond (rounded down); InfinitePast/InfiniteFuture survive.
#ifndef TASKWIRE_SCHEDULER_STORE_RECORD_CODEC_H_
#define TASKWIRE_SCHEDULER_STORE_RECORD_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

std::string EncodeTaskSpec(const TaskSpec& spec);
std::string EncodeTask(const TaskRecord& record);  // without its spec
std::string EncodeWorkflow(const WorkflowRecord& record);

// DATA_LOSS when the bytes do not parse or hold a value no record can have (an unknown
// state). A record written before the spec had a blob of its own holds its spec inside;
// `spec` is read only when it does not.
absl::StatusOr<TaskRecord> DecodeTask(absl::string_view record, absl::string_view spec);
absl::StatusOr<WorkflowRecord> DecodeWorkflow(absl::string_view bytes);

// The stable number of a state in stored data (the `state` column of the tasks table):
// the StoredTaskState / StoredWorkflowState enum value, never the C++ enum's order.
int32_t StoredTaskStateNumber(TaskState state);
int32_t StoredWorkflowStateNumber(WorkflowState state);

// Time and duration encodings, exposed for tests: unix microseconds, with INT64_MIN and
// INT64_MAX for the infinities.
int64_t EncodeTime(absl::Time t);
absl::Time DecodeTime(int64_t us);
int64_t EncodeDuration(absl::Duration d);
absl::Duration DecodeDuration(int64_t us);

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_RECORD_CODEC_H_
