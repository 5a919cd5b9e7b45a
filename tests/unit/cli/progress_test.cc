// The progress lines of a wait: states fed in order, one line per change that matters.
#include "cli/progress.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire::cli {
namespace {

using ::testing::Eq;
using ::testing::Optional;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

v1::Task Task(v1::TaskState state) {
  v1::Task task;
  task.set_id("t1");
  task.set_state(state);
  return task;
}

v1::Attempt* AddAttempt(v1::Task& task, const std::string& executor, v1::AttemptOutcome outcome,
                        const std::string& error = "") {
  v1::Attempt* a = task.add_attempts();
  a->set_number(static_cast<uint32_t>(task.attempts_size()));
  a->set_executor_id(executor);
  a->set_outcome(outcome);
  a->set_error(error);
  return a;
}

TEST(TaskProgressTest, PrintsOneLinePerStateChange) {
  TaskProgress progress;
  v1::Task queued = Task(v1::TASK_STATE_QUEUED);
  queued.set_waiting_reason("no connected executor serves task type 'echo' on queue 'default'");
  EXPECT_THAT(progress.Update(queued, kNow),
              Optional(Eq("task t1: queued: no connected executor serves task type 'echo' on "
                          "queue 'default'")));
  EXPECT_EQ(progress.Update(queued, kNow + absl::Seconds(1)), std::nullopt);

  v1::Task running = Task(v1::TASK_STATE_RUNNING);
  AddAttempt(running, "executor-2", v1::ATTEMPT_OUTCOME_UNSPECIFIED);
  EXPECT_THAT(progress.Update(running, kNow), Optional(Eq("task t1: running on executor-2")));
  EXPECT_EQ(progress.Update(running, kNow), std::nullopt);

  v1::Task done = running;
  done.set_state(v1::TASK_STATE_SUCCEEDED);
  EXPECT_THAT(progress.Update(done, kNow), Optional(Eq("task t1: succeeded")));
}

TEST(TaskProgressTest, SaysWhenARetryComesAndWhyTheAttemptFailed) {
  TaskProgress progress;
  v1::Task retry = Task(v1::TASK_STATE_SCHEDULED);
  AddAttempt(retry, "e1", v1::ATTEMPT_OUTCOME_FAILED, "boom\nstack trace");
  ToProto(kNow + absl::Milliseconds(1500), retry.mutable_scheduled_for());
  EXPECT_THAT(progress.Update(retry, kNow),
              Optional(Eq("task t1: retry in 2s after attempt 1 failed: boom")));
  // The countdown runs down without a new line.
  EXPECT_EQ(progress.Update(retry, kNow + absl::Seconds(1)), std::nullopt);

  v1::Task second = Task(v1::TASK_STATE_RUNNING);
  AddAttempt(second, "e1", v1::ATTEMPT_OUTCOME_FAILED, "boom");
  AddAttempt(second, "e2", v1::ATTEMPT_OUTCOME_UNSPECIFIED);
  EXPECT_THAT(progress.Update(second, kNow), Optional(Eq("task t1: running on e2 (attempt 2)")));

  v1::Task failed = second;
  failed.set_state(v1::TASK_STATE_FAILED);
  failed.set_error("boom (failed 2 attempts)");
  EXPECT_THAT(progress.Update(failed, kNow),
              Optional(Eq("task t1: failed: boom (failed 2 attempts)")));
}

TEST(TaskProgressTest, ShowsACountdownAndIgnoresTheLaneLengthOfAWaitingReason) {
  TaskProgress progress;
  v1::Task scheduled = Task(v1::TASK_STATE_SCHEDULED);
  ToProto(kNow + absl::Seconds(10), scheduled.mutable_scheduled_for());
  EXPECT_THAT(progress.Update(scheduled, kNow), Optional(Eq("task t1: scheduled, runs in 10s")));

  v1::Task queued = Task(v1::TASK_STATE_QUEUED);
  queued.set_waiting_reason("waiting for a free slot on the one executor serving 'echo'; 3 tasks "
                            "queued in this lane");
  EXPECT_THAT(progress.Update(queued, kNow),
              Optional(Eq("task t1: queued: waiting for a free slot on the one executor "
                          "serving 'echo'")));
  queued.set_waiting_reason("waiting for a free slot on the one executor serving 'echo'; 2 tasks "
                            "queued in this lane");
  EXPECT_EQ(progress.Update(queued, kNow), std::nullopt);
}

TEST(TaskProgressTest, SaysNothingWhenTheFirstLookFindsTheTaskEnded) {
  TaskProgress progress;
  EXPECT_EQ(progress.Update(Task(v1::TASK_STATE_SUCCEEDED), kNow), std::nullopt);
}

v1::Workflow Workflow(v1::WorkflowState state, std::initializer_list<v1::TaskState> nodes) {
  v1::Workflow workflow;
  workflow.set_id("w1");
  workflow.set_state(state);
  int i = 0;
  for (v1::TaskState s : nodes) {
    v1::WorkflowNodeStatus* node = workflow.add_nodes();
    node->set_name(absl::StrCat("n", ++i));
    node->mutable_task()->set_state(s);
  }
  return workflow;
}

TEST(WorkflowProgressTest, PrintsNodeCountsAsTheyChange) {
  WorkflowProgress progress;
  v1::Workflow start = Workflow(v1::WORKFLOW_STATE_RUNNING,
                                {v1::TASK_STATE_RUNNING, v1::TASK_STATE_RUNNING,
                                 v1::TASK_STATE_PENDING});
  EXPECT_THAT(progress.Update(start), Optional(Eq("workflow w1: running: 1 pending, 2 running")));
  EXPECT_EQ(progress.Update(start), std::nullopt);

  v1::Workflow callback = Workflow(v1::WORKFLOW_STATE_RUNNING,
                                   {v1::TASK_STATE_SUCCEEDED, v1::TASK_STATE_SUCCEEDED,
                                    v1::TASK_STATE_QUEUED});
  callback.mutable_nodes(2)->mutable_task()->set_waiting_reason(
      "no connected executor serves task type 'collect' on queue 'default'");
  EXPECT_THAT(progress.Update(callback),
              Optional(Eq("workflow w1: running: 1 queued, 2 succeeded; n3 queued: no connected "
                          "executor serves task type 'collect' on queue 'default'")));

  v1::Workflow done = Workflow(v1::WORKFLOW_STATE_SUCCEEDED,
                               {v1::TASK_STATE_SUCCEEDED, v1::TASK_STATE_SUCCEEDED,
                                v1::TASK_STATE_SUCCEEDED});
  EXPECT_THAT(progress.Update(done), Optional(Eq("workflow w1: succeeded: 3 succeeded")));
}

TEST(WorkflowProgressTest, SaysNothingWhenTheFirstLookFindsTheWorkflowEnded) {
  WorkflowProgress progress;
  EXPECT_EQ(progress.Update(Workflow(v1::WORKFLOW_STATE_FAILED, {v1::TASK_STATE_FAILED})),
            std::nullopt);
}

}  // namespace
}  // namespace taskwire::cli
