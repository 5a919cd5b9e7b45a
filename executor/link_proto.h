// Conversions between the core's plain types and taskwire.v1 link messages: the one place
// where an assignment becomes an Attempt and a report becomes an AttemptResult.
#ifndef TASKWIRE_EXECUTOR_LINK_PROTO_H_
#define TASKWIRE_EXECUTOR_LINK_PROTO_H_

#include <memory>
#include <vector>

#include "executor/core/attempt_table.h"
#include "executor/link_interface.h"
#include "executor/runner.h"
#include "taskwire/v1/executor_link.pb.h"

namespace taskwire::executor {

// Moves the assignment's strings into a new Attempt; its timeout starts now (real time:
// the cancel token measures real time).
std::shared_ptr<Attempt> AttemptFromProto(v1::Assignment& assignment);
std::vector<AttemptKey> CancelsFromProto(const v1::SchedulerMessage& message);
WelcomeInfo WelcomeFromProto(const v1::Welcome& welcome);

void AddToHello(const HelloLists& lists, v1::Hello& hello);
// Merges `message` into `out`, moving its results' strings.
void MergeInto(LinkMessage& message, v1::ExecutorMessage& out);
v1::RunMode ToProto(RunMode mode);

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_LINK_PROTO_H_
