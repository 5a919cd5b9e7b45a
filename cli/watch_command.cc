// taskwire watch: prints task and workflow state changes as they happen, one line per event.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/exit_code.h"

namespace taskwire::cli {
namespace {

struct WatchArgs {
  std::vector<v1::TaskState> states;
  std::string queue;
  std::string type;
  uint64_t count = 0;  // 0: no limit
  absl::Duration for_ = absl::InfiniteDuration();
};

constexpr char kWatchExamples[] =
    "Examples:\n"
    "  taskwire watch\n"
    "  taskwire watch --state failed --state expired --queue cpu\n"
    "  taskwire watch --state succeeded,failed --count 100 --json > events.jsonl\n"
    "  taskwire watch --type sha256 --for 1m | grep failed\n"
    "\n"
    "Each line: time, task id, type, state, attempt, executor, workflow/node (for a\n"
    "workflow's node), error (if any). Without filters, workflows' own state changes come\n"
    "too: time, workflow id, 'workflow', state, the node that decided its end, error\n"
    "(in --json: a line without task_id). Runs until --count events arrived, the --for\n"
    "duration passed, or Ctrl-C.\n\n";

int RunWatch(Context& context, const WatchArgs& args) {
  v1::WatchTasksRequest request;
  for (v1::TaskState state : args.states) request.add_states(state);
  request.set_queue(args.queue);
  request.set_type(args.type);
  uint64_t seen = 0;
  auto print = [&](const auto& event) {
    context.out().Event(event);
    return args.count == 0 || ++seen < args.count;
  };
  absl::Status status = context.client().WatchTasks(
      request, args.for_,
      [&](const v1::TaskEvent& event) { return print(event); },
      [&](const v1::WorkflowEvent& event) { return print(event); });
  if (!status.ok()) return context.ServerError(status);
  return kExitOk;
}

}  // namespace

Command AddWatchCommand(CLI::App& root, Context& context) {
  auto args = std::make_shared<WatchArgs>();
  CLI::App* app = root.add_subcommand("watch", "Print task and workflow state changes as they happen");
  app->add_option("--state", args->states,
                  "Only these states (repeat, or separate with commas): " + StateNameList())
      ->transform(StateName())
      ->type_name("STATE")
      ->delimiter(',')
      ->allow_extra_args(false);
  app->add_option("--queue", args->queue, "Only tasks of this queue");
  app->add_option("--type", args->type, "Only tasks of this type");
  app->add_option("--count", args->count, "Exit after this many events")
      ->check(CLI::PositiveNumber);
  AddDurationOption(*app, "--for", args->for_, "Exit after this long", /*allow_zero=*/false);
  app->footer(absl::StrCat(kWatchExamples, kExitCodesHelp));
  return {app, [args, &context] { return RunWatch(context, *args); }};
}

}  // namespace taskwire::cli
