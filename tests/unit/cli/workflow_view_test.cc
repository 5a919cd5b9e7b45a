// The human view of a workflow: the node tree (single upstream under its parent, fan-in at
// the top with its upstreams named), details (errors, retries), header and results.
#include "cli/workflow_view.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::WorkflowNodeStatus* AddNode(v1::Workflow& w, const std::string& name, const std::string& type,
                                v1::TaskState state, std::vector<std::string> after = {}) {
  v1::WorkflowNodeStatus* node = w.add_nodes();
  node->set_name(name);
  for (const std::string& a : after) node->add_after(a);
  node->mutable_task()->set_id(absl::StrCat("t-", name));
  node->mutable_task()->mutable_spec()->set_type(type);
  node->mutable_task()->set_state(state);
  node->mutable_task()->add_attempts()->set_number(1);
  return node;
}

TEST(WorkflowViewTest, AChainNestsEachNodeUnderItsUpstream) {
  v1::Workflow w;
  AddNode(w, "echo-1", "echo", v1::TASK_STATE_SUCCEEDED);
  AddNode(w, "echo-2", "echo", v1::TASK_STATE_SUCCEEDED, {"echo-1"});
  AddNode(w, "sha256-3", "sha256", v1::TASK_STATE_RUNNING, {"echo-2"});
  EXPECT_EQ(RenderWorkflowTree(w),
            "NODE            STATE      TYPE    ATTEMPTS  TASK        DETAIL\n"
            "echo-1          succeeded  echo    1         t-echo-1\n"
            "`- echo-2       succeeded  echo    1         t-echo-2\n"
            "   `- sha256-3  running    sha256  1         t-sha256-3\n");
}

TEST(WorkflowViewTest, AChordCallbackStartsABranchAndNamesItsUpstreams) {
  v1::Workflow w;
  AddNode(w, "a", "echo", v1::TASK_STATE_SUCCEEDED);
  AddNode(w, "b", "fail", v1::TASK_STATE_FAILED)->mutable_task()->set_error("boom\nmore");
  AddNode(w, "cb", "collect", v1::TASK_STATE_CANCELLED, {"a", "b"})
      ->mutable_task()
      ->set_error("upstream b failed");
  const std::string tree = RenderWorkflowTree(w);
  EXPECT_THAT(tree, HasSubstr("\ncb    cancelled  collect  1         t-cb  after a, b; upstream b failed\n"));
  EXPECT_THAT(tree, HasSubstr("\nb     failed     fail     1         t-b   boom ...\n"));
}

TEST(WorkflowViewTest, ARetriedNodeShowsWhyItWasRetried) {
  v1::Workflow w;
  v1::Task* task = AddNode(w, "flaky", "fail", v1::TASK_STATE_SUCCEEDED)->mutable_task();
  task->mutable_attempts(0)->set_outcome(v1::ATTEMPT_OUTCOME_FAILED);
  task->mutable_attempts(0)->set_error("flaky: attempt 1 of the first 1 fails");
  task->add_attempts()->set_number(2);
  EXPECT_THAT(RenderWorkflowTree(w), HasSubstr("#1 failed: flaky: attempt 1 of the first 1 fails"));
}

TEST(WorkflowViewTest, ALongChainStopsIndentingAfterTenLevels) {
  v1::Workflow w;
  AddNode(w, "n0", "echo", v1::TASK_STATE_SUCCEEDED);
  for (int i = 1; i < 30; ++i) {
    AddNode(w, absl::StrCat("n", i), "echo", v1::TASK_STATE_SUCCEEDED, {absl::StrCat("n", i - 1)});
  }
  const std::string tree = RenderWorkflowTree(w);
  const size_t n29 = tree.find("`- n29");
  ASSERT_NE(n29, std::string::npos);
  const size_t line_start = tree.rfind('\n', n29) + 1;
  EXPECT_EQ(n29 - line_start, 27u);  // 9 levels of three columns, then the branch
}

TEST(WorkflowViewTest, HeaderSaysWhichNodeDecidedAndListsResults) {
  v1::Workflow w;
  w.set_id("wf-1");
  w.set_state(v1::WORKFLOW_STATE_FAILED);
  w.set_decided_by("b");
  w.set_error("node b failed");
  AddNode(w, "a", "echo", v1::TASK_STATE_SUCCEEDED);
  const std::string view = RenderWorkflow(w);
  EXPECT_THAT(view, HasSubstr("workflow:  wf-1\n"));
  EXPECT_THAT(view, HasSubstr("state:     failed (decided by b)\n"));
  EXPECT_THAT(view, HasSubstr("nodes:     1 (1 succeeded)\n"));
  EXPECT_THAT(view, Not(HasSubstr("results:")));
  w.set_state(v1::WORKFLOW_STATE_SUCCEEDED);
  v1::WorkflowResult* r = w.add_results();
  r->set_node("a");
  r->set_output("hello");
  EXPECT_THAT(RenderWorkflow(w), HasSubstr("results:\n  a: hello\n"));
}

}  // namespace
}  // namespace taskwire::cli
