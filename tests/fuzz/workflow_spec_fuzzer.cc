// Fuzzes a client's WorkflowSpec on its way into the scheduler: the DAG checks
// (workflow_graph.h) and the core's workflow submit, then the workflow run to its end by
// one executor that answers each assignment as the input says.
// Two readings of each input: the bytes as a taskwire.v1.WorkflowSpec (what
// SubmitWorkflow receives, through proto_convert.h), and the bytes as a small graph drawn
// by a ByteReader (names, edges, self-edges, repeats and unknown names), which reaches
// the graph checks faster than mutating the proto.
// Checks: a resolved graph matches the spec's names and is acyclic (checked here
// independently); the core accepts what the graph check and validation accept; while it
// runs, a PENDING node has an upstream that has not succeeded and a node that ran or
// waits to run only succeeded upstreams; a finished workflow has only finished nodes, a succeeded one only
// succeeded nodes; a cancel ends everything.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/workflow_graph.h"
#include "scheduler/service/proto_convert.h"
#include "scheduler/store/memory_task_store.h"
#include "taskwire/v1/workflow.pb.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/unit/fake_executor_channel.h"

namespace taskwire::scheduler {
namespace {

using fuzz::ByteReader;

// Whether `upstream` (node -> its upstream nodes) has no cycle: an iterative depth-first
// search, apart from the Kahn's algorithm the code under test uses.
bool IsAcyclic(const std::vector<std::vector<uint32_t>>& upstream) {
  enum Color : uint8_t { kWhite, kGrey, kBlack };
  std::vector<Color> color(upstream.size(), kWhite);
  for (uint32_t root = 0; root < upstream.size(); ++root) {
    if (color[root] != kWhite) continue;
    std::vector<std::pair<uint32_t, size_t>> stack{{root, 0}};
    color[root] = kGrey;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == upstream[node].size()) {
        color[node] = kBlack;
        stack.pop_back();
        continue;
      }
      const uint32_t u = upstream[node][next++];
      if (color[u] == kGrey) return false;
      if (color[u] == kWhite) {
        color[u] = kGrey;
        stack.emplace_back(u, 0);
      }
    }
  }
  return true;
}

void CheckResolved(const WorkflowSpec& spec,
                   const absl::StatusOr<std::vector<std::vector<uint32_t>>>& resolved) {
  if (!resolved.ok()) {
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(resolved.status()), resolved.status().ToString());
    return;
  }
  const size_t n = spec.nodes.size();
  TASKWIRE_FUZZ_CHECK(resolved->size() == n, "one upstream list per node");
  for (size_t i = 0; i < n; ++i) {
    const std::vector<uint32_t>& up = (*resolved)[i];
    TASKWIRE_FUZZ_CHECK(up.size() == spec.nodes[i].after.size(), spec.nodes[i].name);
    absl::flat_hash_set<uint32_t> seen;
    for (size_t k = 0; k < up.size(); ++k) {
      TASKWIRE_FUZZ_CHECK(up[k] < n && up[k] != i, spec.nodes[i].name);
      TASKWIRE_FUZZ_CHECK(spec.nodes[up[k]].name == spec.nodes[i].after[k], spec.nodes[i].name);
      TASKWIRE_FUZZ_CHECK(seen.insert(up[k]).second, "an upstream listed twice");
    }
  }
  TASKWIRE_FUZZ_CHECK(IsAcyclic(*resolved), "a resolved graph with a cycle");
}

void CheckView(const WorkflowView& view) {
  const WorkflowRecord& r = view.record;
  TASKWIRE_FUZZ_CHECK(view.nodes.size() == r.nodes.size(), r.id);
  bool all_terminal = true;
  bool all_succeeded = true;
  for (size_t i = 0; i < r.nodes.size(); ++i) {
    const TaskState s = view.nodes[i].state;
    all_terminal = all_terminal && IsTerminal(s);
    all_succeeded = all_succeeded && s == TaskState::kSucceeded;
    bool upstream_succeeded = true;
    for (uint32_t u : r.nodes[i].after) {
      upstream_succeeded = upstream_succeeded && view.nodes[u].state == TaskState::kSucceeded;
    }
    if (s == TaskState::kPending) {
      TASKWIRE_FUZZ_CHECK(!upstream_succeeded, absl::StrCat(r.nodes[i].name, " left PENDING"));
    } else if (s != TaskState::kCancelled && s != TaskState::kExpired) {
      TASKWIRE_FUZZ_CHECK(upstream_succeeded,
                          absl::StrCat(r.nodes[i].name, " released too early: ", TaskStateName(s)));
    }
  }
  if (r.state != WorkflowState::kRunning) {
    TASKWIRE_FUZZ_CHECK(all_terminal, absl::StrCat(r.id, " ended with nodes unfinished"));
  } else {
    TASKWIRE_FUZZ_CHECK(!all_terminal, absl::StrCat(r.id, " runs with every node finished"));
  }
  TASKWIRE_FUZZ_CHECK((r.state == WorkflowState::kSucceeded) == all_succeeded,
                      absl::StrCat(r.id, " is ", WorkflowStateName(r.state)));
}

// Submits `spec` to a new core and runs it with one executor whose answers `choices` picks.
void Run(WorkflowSpec spec, bool graph_ok, ByteReader& choices) {
  FakeClock clock;
  MemoryTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, /*metrics=*/nullptr, CoreOptions{});
  ExecutorHello hello;
  hello.executor_id = "fuzz";
  hello.incarnation = "fuzz-1";
  hello.slots = 1 + choices.Below(4);
  absl::flat_hash_set<std::string> types;
  absl::flat_hash_set<std::string> queues;
  for (const WorkflowNodeSpec& node : spec.nodes) {
    if (types.insert(node.task.type).second) hello.task_types.push_back({node.task.type, RunMode::kThread});
    const std::string queue = node.task.queue.empty() ? std::string(kDefaultQueue) : node.task.queue;
    if (queues.insert(queue).second) hello.queues.push_back(queue);
  }
  const size_t n = spec.nodes.size();
  absl::StatusOr<SubmittedWorkflow> submitted = core.SubmitWorkflow(std::move(spec));
  if (!submitted.ok()) {
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(submitted.status()), submitted.status().ToString());
    return;
  }
  TASKWIRE_FUZZ_CHECK(graph_ok, "the core took a workflow whose graph does not resolve");
  TASKWIRE_FUZZ_CHECK(submitted->task_ids.size() == n, "one task per node");

  auto channel = std::make_shared<testing::FakeExecutorChannel>();
  absl::StatusOr<ExecutorSession> session = core.ConnectExecutor(std::move(hello), channel);
  TASKWIRE_FUZZ_CHECK(session.ok(), session.status().ToString());

  for (size_t round = 0; round < 2 * n + 8; ++round) {
    for (const AssignmentOut& a : channel->TakeAssignments()) {
      AttemptResult result;
      result.task_id = a.task_id;
      result.attempt = a.attempt;
      switch (choices.Below(5)) {
        case 0: result.outcome = AttemptOutcome::kFailed; break;
        case 1: result.outcome = AttemptOutcome::kTimedOut; break;
        case 2: result.outcome = AttemptOutcome::kCancelled; break;
        default: result.outcome = AttemptOutcome::kSucceeded; break;
      }
      result.output = absl::StrCat("out of ", a.task_id);
      core.OnResults(*session, {std::move(result)});
    }
    if (choices.Bool()) {
      clock.Advance(absl::Seconds(1 + choices.Below(7200)));
      core.Tick();
    }
    absl::StatusOr<WorkflowView> view = core.GetWorkflow(submitted->workflow_id);
    TASKWIRE_FUZZ_CHECK(view.ok(), view.status().ToString());
    CheckView(*view);
    if (view->record.state != WorkflowState::kRunning) break;
  }
  absl::StatusOr<WorkflowState> cancelled = core.CancelWorkflow(submitted->workflow_id);
  TASKWIRE_FUZZ_CHECK(cancelled.ok(), cancelled.status().ToString());
  TASKWIRE_FUZZ_CHECK(*cancelled != WorkflowState::kRunning, "still running after a cancel");
  absl::StatusOr<WorkflowView> view = core.GetWorkflow(submitted->workflow_id);
  TASKWIRE_FUZZ_CHECK(view.ok(), view.status().ToString());
  CheckView(*view);
}

void Check(WorkflowSpec spec, ByteReader& choices) {
  const absl::StatusOr<std::vector<std::vector<uint32_t>>> resolved =
      ResolveWorkflowGraph(spec, CoreOptions{}.limits);
  CheckResolved(spec, resolved);
  Run(std::move(spec), resolved.ok(), choices);
}

// A graph of up to 12 nodes named from a small alphabet (so names repeat), each with up
// to 4 dependencies that may name an unknown node or the node itself.
WorkflowSpec DrawGraph(ByteReader& in) {
  WorkflowSpec spec;
  const size_t n = 1 + in.Below(12);
  for (size_t i = 0; i < n; ++i) {
    WorkflowNodeSpec node;
    node.name = in.Below(16) == 0 ? std::string("n0") : absl::StrCat("n", i);
    node.task.type = in.Bool() ? "echo" : "thread.sleep";
    node.task.payload = absl::StrCat(i);
    const size_t deps = in.Below(5);
    for (size_t k = 0; k < deps; ++k) node.after.push_back(absl::StrCat("n", in.Below(n + 1)));
    spec.nodes.push_back(std::move(node));
  }
  return spec;
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
  using taskwire::fuzz::ByteReader;
  taskwire::v1::WorkflowSpec parsed;
  if (parsed.ParseFromArray(data, static_cast<int>(size))) {
    // The answers of the run come from the bytes too (any reading will do).
    ByteReader choices(data, size);
    taskwire::scheduler::Check(taskwire::scheduler::FromProto(std::move(parsed)), choices);
  }
  ByteReader in(data, size);
  taskwire::scheduler::WorkflowSpec drawn = taskwire::scheduler::DrawGraph(in);
  taskwire::scheduler::Check(std::move(drawn), in);
  return 0;
}
