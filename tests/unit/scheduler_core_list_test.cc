// SchedulerCore::ListTasks: pages in submission order (or newest first), filters, and page
// tokens.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using ListTasksTest = SchedulerCoreTest;

std::vector<std::string> IdsOf(const TaskPage& page) {
  std::vector<std::string> ids;
  for (const TaskRecord& t : page.tasks) ids.push_back(t.id);
  return ids;
}

TEST_F(ListTasksTest, PagesThroughTasksInSubmissionOrder) {
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(7, Spec("echo")));
  TaskListQuery query;
  query.page_size = 3;

  ASSERT_OK_AND_ASSIGN(TaskPage first, core().ListTasks(query));
  EXPECT_THAT(IdsOf(first), ElementsAre(ids[0], ids[1], ids[2]));
  ASSERT_FALSE(first.next_page_token.empty());

  query.page_token = first.next_page_token;
  ASSERT_OK_AND_ASSIGN(TaskPage second, core().ListTasks(query));
  EXPECT_THAT(IdsOf(second), ElementsAre(ids[3], ids[4], ids[5]));
  ASSERT_FALSE(second.next_page_token.empty());

  query.page_token = second.next_page_token;
  ASSERT_OK_AND_ASSIGN(TaskPage last, core().ListTasks(query));
  EXPECT_THAT(IdsOf(last), ElementsAre(ids[6]));
  EXPECT_THAT(last.next_page_token, IsEmpty());
}

TEST_F(ListTasksTest, EndsWithoutATokenWhenTheLastPageIsExactlyFull) {
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(4, Spec("echo")));
  TaskListQuery query;
  query.page_size = 4;

  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(query));

  EXPECT_THAT(IdsOf(page), ElementsAreArray(ids));
  EXPECT_THAT(page.next_page_token, IsEmpty());
}

TEST_F(ListTasksTest, ContinuesAfterTasksSubmittedBetweenPages) {
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(2, Spec("echo")));
  TaskListQuery query;
  query.page_size = 1;
  ASSERT_OK_AND_ASSIGN(TaskPage first, core().ListTasks(query));
  const std::string later = Submit(Spec("echo"));

  query.page_size = 10;
  query.page_token = first.next_page_token;
  ASSERT_OK_AND_ASSIGN(TaskPage rest, core().ListTasks(query));

  EXPECT_THAT(IdsOf(rest), ElementsAre(ids[1], later));
}

TEST_F(ListTasksTest, FiltersByStateQueueAndType) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string running_echo = Submit(Spec("echo"));
  const std::string queued_echo = Submit(Spec("echo"));
  const std::string queued_hash = Submit(Spec("hash"));
  const std::string batch_echo = Submit(Spec("echo", 0, "batch"));

  TaskListQuery by_state;
  by_state.state = TaskState::kQueued;
  EXPECT_THAT(IdsOf(*core().ListTasks(by_state)),
              ElementsAre(queued_echo, queued_hash, batch_echo));

  TaskListQuery by_type;
  by_type.type = "echo";
  EXPECT_THAT(IdsOf(*core().ListTasks(by_type)),
              ElementsAre(running_echo, queued_echo, batch_echo));

  TaskListQuery by_queue;
  by_queue.queue = "batch";
  EXPECT_THAT(IdsOf(*core().ListTasks(by_queue)), ElementsAre(batch_echo));

  TaskListQuery all_three;
  all_three.state = TaskState::kQueued;
  all_three.type = "echo";
  all_three.queue = "default";
  EXPECT_THAT(IdsOf(*core().ListTasks(all_three)), ElementsAre(queued_echo));
}

TEST_F(ListTasksTest, PagesThroughAFilteredListing) {
  std::vector<std::string> hashes;
  for (int i = 0; i < 5; ++i) {
    Submit(Spec("echo"));
    hashes.push_back(Submit(Spec("hash")));
  }
  TaskListQuery query;
  query.type = "hash";
  query.page_size = 2;

  std::vector<std::string> seen;
  int pages = 0;
  do {
    ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(query));
    EXPECT_LE(page.tasks.size(), 2u);
    for (const std::string& id : IdsOf(page)) seen.push_back(id);
    query.page_token = page.next_page_token;
    ASSERT_LT(++pages, 10) << "paging does not end";
  } while (!query.page_token.empty());

  EXPECT_THAT(seen, ElementsAreArray(hashes));
}

TEST_F(ListTasksTest, UsesTheDefaultPageSizeForZero) {
  CoreOptions options = TestOptions();
  options.default_page_size = 2;
  RebuildCore(options);
  SubmitAll(std::vector<TaskSpec>(5, Spec("echo")));

  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(TaskListQuery{}));

  EXPECT_THAT(page.tasks, SizeIs(2));
  EXPECT_FALSE(page.next_page_token.empty());
}

TEST_F(ListTasksTest, RejectsAPageSizeOutOfRange) {
  Submit(Spec("echo"));
  TaskListQuery negative;
  negative.page_size = -1;
  TaskListQuery too_big;
  too_big.page_size = core().options().max_page_size + 1;
  TaskListQuery largest;
  largest.page_size = core().options().max_page_size;

  EXPECT_THAT(core().ListTasks(negative),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  EXPECT_THAT(core().ListTasks(too_big),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  EXPECT_THAT(core().ListTasks(largest), IsOk());
}

TEST_F(ListTasksTest, RejectsAForgedPageToken) {
  SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));
  for (const std::string& forged :
       {std::string("not a token!"), absl::WebSafeBase64Escape("tw1:"),
        absl::WebSafeBase64Escape("tw1:twelve"), absl::WebSafeBase64Escape("xx9:5")}) {
    TaskListQuery query;
    query.page_token = forged;
    EXPECT_THAT(core().ListTasks(query),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")))
        << "token " << forged;
  }
}

TEST_F(ListTasksTest, ReturnsAShortPageWithATokenWhenTheScanLimitIsReached) {
  CoreOptions options = TestOptions();
  options.max_list_scan = 3;
  RebuildCore(options);
  SubmitAll(std::vector<TaskSpec>(5, Spec("echo")));
  const std::string hash = Submit(Spec("hash"));
  TaskListQuery query;
  query.type = "hash";

  // Each call looks at 3 submissions: short pages with tokens, until the hash task.
  ASSERT_OK_AND_ASSIGN(TaskPage first, core().ListTasks(query));
  EXPECT_THAT(first.tasks, IsEmpty());
  ASSERT_FALSE(first.next_page_token.empty());
  std::vector<std::string> found;
  std::string token = first.next_page_token;
  for (int page = 0; page < 5 && !token.empty(); ++page) {
    query.page_token = token;
    ASSERT_OK_AND_ASSIGN(TaskPage next, core().ListTasks(query));
    for (const TaskRecord& t : next.tasks) found.push_back(t.id);
    token = next.next_page_token;
  }
  EXPECT_THAT(found, ElementsAre(hash));
  EXPECT_THAT(token, IsEmpty());
}

// Newest first, across tasks in memory and finished ones only the store still holds.
TEST_F(ListTasksTest, PagesNewestFirstThroughMemoryAndTheStore) {
  CoreOptions options = TestOptions();
  options.recent_results = 0;  // a finished task leaves memory once stored
  RebuildCore(options);
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(7, Spec("echo")));
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/3);
  for (const AssignmentOut& a : e.channel->TakeAssignments()) Succeed(e, a);
  ASSERT_EQ(core().tasks_in_memory(), 4u) << "three in the store only; 3 running, 1 queued";
  TaskListQuery query;
  query.newest_first = true;
  query.page_size = 3;

  std::vector<std::vector<std::string>> pages;
  do {
    ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(query));
    pages.push_back(IdsOf(page));
    query.page_token = page.next_page_token;
    ASSERT_LT(pages.size(), 10u) << "paging does not end";
  } while (!query.page_token.empty());

  EXPECT_THAT(pages, ElementsAre(ElementsAre(ids[6], ids[5], ids[4]),
                                 ElementsAre(ids[3], ids[2], ids[1]), ElementsAre(ids[0])));
}

TEST_F(ListTasksTest, NewestFirstShowsTasksSubmittedSinceOnlyOnAFreshListing) {
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));
  TaskListQuery query;
  query.newest_first = true;
  query.page_size = 2;
  ASSERT_OK_AND_ASSIGN(TaskPage first, core().ListTasks(query));
  const std::string later = Submit(Spec("echo"));

  query.page_token = first.next_page_token;
  ASSERT_OK_AND_ASSIGN(TaskPage rest, core().ListTasks(query));
  EXPECT_THAT(IdsOf(first), ElementsAre(ids[2], ids[1]));
  EXPECT_THAT(IdsOf(rest), ElementsAre(ids[0]));
  EXPECT_THAT(rest.next_page_token, IsEmpty());

  query.page_token.clear();
  ASSERT_OK_AND_ASSIGN(TaskPage fresh, core().ListTasks(query));
  EXPECT_THAT(IdsOf(fresh), ElementsAre(later, ids[2]));
}

TEST_F(ListTasksTest, NewestFirstWalksDownTheScanLimitWithShortPages) {
  CoreOptions options = TestOptions();
  options.max_list_scan = 3;
  RebuildCore(options);
  const std::string hash = Submit(Spec("hash"));
  SubmitAll(std::vector<TaskSpec>(5, Spec("echo")));
  TaskListQuery query;
  query.newest_first = true;
  query.type = "hash";

  std::vector<std::string> found;
  int calls = 0;
  do {
    ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(query));
    for (const std::string& id : IdsOf(page)) found.push_back(id);
    query.page_token = page.next_page_token;
    ASSERT_LT(++calls, 10) << "paging does not end";
  } while (!query.page_token.empty());

  EXPECT_THAT(found, ElementsAre(hash));
  EXPECT_GE(calls, 2) << "each call looks at 3 submissions";
}

TEST_F(ListTasksTest, RefusesAPageTokenOfTheOtherOrder) {
  SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));
  TaskListQuery oldest;
  oldest.page_size = 1;
  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(oldest));
  TaskListQuery newest = oldest;
  newest.newest_first = true;
  ASSERT_OK_AND_ASSIGN(TaskPage newest_page, core().ListTasks(newest));

  newest.page_token = page.next_page_token;
  oldest.page_token = newest_page.next_page_token;
  EXPECT_THAT(core().ListTasks(newest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("oldest first")));
  EXPECT_THAT(core().ListTasks(oldest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("newest first")));
}

TEST_F(ListTasksTest, ListsNothingOnAnEmptyScheduler) {
  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(TaskListQuery{}));
  EXPECT_THAT(page.tasks, IsEmpty());
  EXPECT_THAT(page.next_page_token, IsEmpty());
  TaskListQuery newest;
  newest.newest_first = true;
  ASSERT_OK_AND_ASSIGN(TaskPage newest_page, core().ListTasks(newest));
  EXPECT_THAT(newest_page.tasks, IsEmpty());
  EXPECT_THAT(newest_page.next_page_token, IsEmpty());
}

}  // namespace
}  // namespace taskwire::scheduler::testing
