// SchedulerCore::Submit: all or nothing, every rejection an INVALID_ARGUMENT that names the
// field, and durable before visible.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/task_store.h"
#include "tests/unit/forwarding_task_store.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

using SubmitTest = SchedulerCoreTest;

TEST_F(SubmitTest, StoresABatchAndReturnsIdsInInputOrder) {
  std::vector<TaskSpec> specs = {Spec("echo", 1), Spec("hash", 2, "batch"), Spec("echo", 3)};

  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids, core().Submit(specs));

  ASSERT_THAT(ids, SizeIs(3));
  EXPECT_THAT(ids, Each(SizeIs(13)));
  EXPECT_EQ(store_.size(), 3u);
  for (size_t i = 0; i < ids.size(); ++i) {
    TaskRecord task = Task(ids[i]);
    EXPECT_EQ(task.spec->type, specs[i].type);
    EXPECT_EQ(task.spec->priority, specs[i].priority);
    EXPECT_EQ(task.state, TaskState::kQueued);
    EXPECT_EQ(task.created_at, clock_.Now());
    EXPECT_THAT(task.attempts, IsEmpty());
  }
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
}

TEST_F(SubmitTest, PutsATaskWithoutAQueueOnTheDefaultQueue) {
  const std::string id = Submit(Spec("echo"));

  EXPECT_EQ(Task(id).spec->queue, "default");
}

TEST_F(SubmitTest, RejectsAnEmptyBatch) {
  EXPECT_THAT(core().Submit({}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tasks is empty")));
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(SubmitTest, RejectsABatchOverTheLimit) {
  CoreOptions options = TestOptions();
  options.limits.max_batch_size = 3;
  RebuildCore(options);

  EXPECT_THAT(core().Submit(std::vector<TaskSpec>(4, Spec("echo"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the limit is 3")));
  EXPECT_THAT(core().Submit(std::vector<TaskSpec>(3, Spec("echo"))), IsOk());
  EXPECT_EQ(store_.size(), 3u);
}

TEST_F(SubmitTest, RejectsTheWholeBatchWhenOneTaskIsInvalidAndNamesIt) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/10);
  std::vector<TaskSpec> specs = {Spec("echo"), Spec("bad type"), Spec("echo")};

  EXPECT_THAT(core().Submit(specs),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tasks[1].type")));

  EXPECT_EQ(store_.size(), 0u);
  EXPECT_THAT(e.channel->assignments(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(TaskListQuery{}));
  EXPECT_THAT(page.tasks, IsEmpty());
}

TEST_F(SubmitTest, NamesTheFieldOfEachKindOfInvalidTask) {
  CoreOptions options = TestOptions();
  options.limits.max_payload_bytes = 16;
  RebuildCore(options);
  struct Case {
    const char* what;
    TaskSpec spec;
    const char* field;
  };
  std::vector<Case> cases;
  cases.push_back({"empty type", Spec(""), "tasks[1].type"});
  cases.push_back({"long type", Spec(std::string(129, 'x')), "tasks[1].type"});
  cases.push_back({"bad char in type", Spec("a/b"), "tasks[1].type"});
  cases.push_back({"bad queue", Spec("echo", 0, "q q"), "tasks[1].queue"});
  TaskSpec big = Spec("echo");
  big.payload = std::string(17, 'p');
  cases.push_back({"payload", big, "tasks[1].payload"});
  TaskSpec negative = Spec("echo");
  negative.timeout = -absl::Seconds(1);
  cases.push_back({"timeout", negative, "tasks[1].timeout"});
  cases.push_back({"priority too high", Spec("echo", 101), "tasks[1].priority"});
  cases.push_back({"priority too low", Spec("echo", -101), "tasks[1].priority"});

  for (const Case& c : cases) {
    EXPECT_THAT(core().Submit({Spec("echo"), c.spec}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)))
        << c.what;
  }
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(SubmitTest, NamesTheFieldTaskForASingleSubmitAndTasksIndexForABatchOfOne) {
  EXPECT_THAT(core().Submit({Spec("echo", 500)}, SchedulerCore::SubmitPath::kOne),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task.priority")));
  EXPECT_THAT(core().Submit({Spec("echo", 500)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tasks[0].priority")));
}

// A store that refuses every write, like a full disk.
class FailingTaskStore final : public ForwardingTaskStore {
 public:
  absl::Status Commit(const StoreBatch&) override {
    return absl::ResourceExhaustedError("disk full");
  }
  std::string Describe() const override { return "failing"; }
};

TEST(SubmitWithABrokenStoreTest, ReportsUnavailableAndNeitherListsNorRunsTheTasks) {
  FakeClock clock;
  FailingTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  auto channel = std::make_shared<FakeExecutorChannel>();
  ExecutorHello hello;
  hello.executor_id = "e1";
  hello.slots = 4;
  hello.task_types.push_back(TaskTypeInfo{"echo", RunMode::kThread});
  ASSERT_THAT(core.ConnectExecutor(hello, channel), IsOk());

  EXPECT_THAT(core.Submit({Spec("echo")}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("disk full")));

  ASSERT_OK_AND_ASSIGN(TaskPage page, core.ListTasks(TaskListQuery{}));
  EXPECT_THAT(page.tasks, IsEmpty());
  EXPECT_THAT(channel->assignments(), IsEmpty());
}

TEST_F(SubmitTest, GivesEveryTaskADistinctId) {
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    for (const std::string& id : SubmitAll(std::vector<TaskSpec>(20, Spec("echo")))) {
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  EXPECT_THAT(ids, Each(Not(IsEmpty())));
}

}  // namespace
}  // namespace taskwire::scheduler::testing
