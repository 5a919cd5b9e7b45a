// A task's record as schema versions 1 to 3 stored it: one blob with the spec inside.
#ifndef TASKWIRE_TESTS_UNIT_STORE_LEGACY_RECORD_H_
#define TASKWIRE_TESTS_UNIT_STORE_LEGACY_RECORD_H_

#include <string>

#include "scheduler/core/task_record.h"
#include "scheduler/store/record_codec.h"
#include "taskwire/store/v1/stored_records.pb.h"

namespace taskwire::scheduler::testing {

inline std::string LegacyTaskBlob(const TaskRecord& r) {
  store::v1::StoredTask t;
  t.ParseFromString(EncodeTask(r));
  t.mutable_spec()->ParseFromString(EncodeTaskSpec(*r.spec));
  return t.SerializeAsString();
}

}  // namespace taskwire::scheduler::testing

#endif  // TASKWIRE_TESTS_UNIT_STORE_LEGACY_RECORD_H_
