#include "cli/progress.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/format.h"
#include "client/client.h"
#include "common/grpc_status.h"

namespace taskwire::cli {
namespace {

constexpr size_t kMaxErrorBytes = 200;

// The first line of `text`, at most kMaxErrorBytes (cut on a UTF-8 boundary).
std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() <= kMaxErrorBytes) return line;
  size_t cut = kMaxErrorBytes;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(line.substr(0, cut), "...");
}

// A waiting reason without its changing tail ("...; 12 tasks queued in this lane"), which
// would otherwise make a new line at every look.
std::string StableReason(const std::string& reason) {
  return FirstLine(reason.substr(0, reason.find("; ")));
}

// "in 3s": whole seconds, rounded up, never below 1s.
std::string In(const google::protobuf::Timestamp& at, absl::Time now) {
  const absl::Duration left = std::max(absl::Ceil(FromProto(at) - now, absl::Seconds(1)),
                                       absl::Seconds(1));
  return absl::StrCat("in ", FormatShortDuration(left));
}

// What a person reads about `task`, and the part of it that, when it changes, is news.
std::pair<std::string, std::string> Describe(const v1::Task& task, absl::Time now) {
  const std::string state(client::StateName(task.state()));
  const v1::Attempt* last =
      task.attempts().empty() ? nullptr : &task.attempts(task.attempts_size() - 1);
  const std::string tried = absl::StrCat("#", task.attempts_size());
  switch (task.state()) {
    case v1::TASK_STATE_SCHEDULED: {
      const std::string when = task.has_scheduled_for() ? In(task.scheduled_for(), now) : "";
      if (last != nullptr && (last->outcome() == v1::ATTEMPT_OUTCOME_FAILED ||
                              last->outcome() == v1::ATTEMPT_OUTCOME_TIMED_OUT)) {
        std::string text = absl::StrCat("retry", when.empty() ? "" : " ", when, " after attempt ",
                                        last->number(), " ",
                                        std::string(OutcomeName(last->outcome())));
        if (!last->error().empty()) absl::StrAppend(&text, ": ", FirstLine(last->error()));
        return {text, state + tried};
      }
      return {when.empty() ? state : absl::StrCat(state, ", runs ", when), state + tried};
    }
    case v1::TASK_STATE_QUEUED: {
      std::string text = state;
      if (!task.waiting_reason().empty()) {
        absl::StrAppend(&text, ": ", StableReason(task.waiting_reason()));
      }
      return {text, text + tried};
    }
    case v1::TASK_STATE_RUNNING: {
      std::string text = state;
      if (last != nullptr && !last->executor_id().empty()) {
        absl::StrAppend(&text, " on ", last->executor_id());
      }
      if (last != nullptr && last->number() > 1) {
        absl::StrAppend(&text, " (attempt ", last->number(), ")");
      }
      return {text, text + tried};
    }
    default: {
      std::string text = state;
      if (!task.error().empty()) absl::StrAppend(&text, ": ", FirstLine(task.error()));
      return {text, state};
    }
  }
}

}  // namespace

std::optional<std::string> TaskProgress::Update(const v1::Task& task, absl::Time now) {
  auto [text, key] = Describe(task, now);
  const bool first = !last_key_.has_value();
  if (!first && *last_key_ == key) return std::nullopt;
  last_key_ = std::move(key);
  if (first && client::IsTerminal(task.state())) return std::nullopt;
  return absl::StrCat("task ", task.id(), ": ", text);
}

std::optional<std::string> WorkflowProgress::Update(const v1::Workflow& workflow) {
  // Lifecycle order, so that a line reads from what is yet to run to what has ended.
  constexpr v1::TaskState kOrder[] = {
      v1::TASK_STATE_PENDING,   v1::TASK_STATE_SCHEDULED, v1::TASK_STATE_QUEUED,
      v1::TASK_STATE_RUNNING,   v1::TASK_STATE_SUCCEEDED, v1::TASK_STATE_FAILED,
      v1::TASK_STATE_CANCELLED, v1::TASK_STATE_EXPIRED,
  };
  std::vector<std::string> counts;
  for (v1::TaskState state : kOrder) {
    const auto n = std::count_if(workflow.nodes().begin(), workflow.nodes().end(),
                                 [state](const auto& node) { return node.task().state() == state; });
    if (n > 0) counts.push_back(absl::StrCat(n, " ", std::string(client::StateName(state))));
  }
  std::string text =
      absl::StrCat("workflow ", workflow.id(), ": ",
                   std::string(client::WorkflowStateName(workflow.state())),
                   ": ", absl::StrJoin(counts, ", "));
  for (const v1::WorkflowNodeStatus& node : workflow.nodes()) {
    if (node.task().state() != v1::TASK_STATE_QUEUED || node.task().waiting_reason().empty()) {
      continue;
    }
    absl::StrAppend(&text, "; ", node.name(), " queued: ", StableReason(node.task().waiting_reason()));
    break;
  }
  const bool first = !last_.has_value();
  if (!first && *last_ == text) return std::nullopt;
  last_ = text;
  if (first && client::IsTerminal(workflow.state())) return std::nullopt;
  return text;
}

}  // namespace taskwire::cli
