// taskwire list: the tasks the scheduler knows, filtered, newest first (or oldest first), a
// page at a time.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/exit_code.h"

namespace taskwire::cli {
namespace {

struct ListArgs {
  v1::TaskState state = v1::TASK_STATE_UNSPECIFIED;
  std::string queue;
  std::string type;
  int limit = 100;
  bool all = false;
  bool oldest = false;
  std::string page_token;
};

constexpr char kListExamples[] =
    "Examples:\n"
    "  taskwire list\n"
    "  taskwire list --state failed --queue cpu\n"
    "  taskwire list --type sha256 --all --json | jq -r .id\n"
    "  taskwire list --oldest --limit 10 --page-token <token printed by the previous page>\n"
    "\n"
    "Tasks come newest first (--oldest: oldest first), one page of --limit. When more\n"
    "remain, the next page's token is printed last (with --json as a line\n"
    "{\"next_page_token\": ...}); pass it with the same order to go on.\n\n";

int RunList(Context& context, const ListArgs& args) {
  v1::ListTasksRequest request;
  request.set_state(args.state);
  request.set_queue(args.queue);
  request.set_type(args.type);
  request.set_newest_first(!args.oldest);
  request.set_page_size(args.limit);
  request.set_page_token(args.page_token);
  while (true) {
    absl::StatusOr<v1::ListTasksResponse> page = context.client().ListTasks(request);
    if (!page.ok()) return context.ServerError(page.status());
    context.out().TaskPage(*page);
    const std::string& next = page->next_page_token();
    if (!args.all || next.empty()) {
      context.out().EndTaskList(next);
      return kExitOk;
    }
    if (next == request.page_token()) {  // a scheduler bug would otherwise loop forever
      context.out().EndTaskList({});
      return context.ServerError(
          absl::InternalError("the scheduler returned the same page token twice"));
    }
    request.set_page_token(next);
  }
}

}  // namespace

Command AddListCommand(CLI::App& root, Context& context) {
  auto args = std::make_shared<ListArgs>();
  CLI::App* app = root.add_subcommand("list", "List tasks: ID STATE TYPE QUEUE PRIO ATTEMPTS AGE");
  app->add_option("--state", args->state, "Only tasks in this state: " + StateNameList())
      ->transform(StateName())
      ->type_name("STATE");
  app->add_option("--queue", args->queue, "Only tasks of this queue");
  app->add_option("--type", args->type, "Only tasks of this type");
  app->add_option("--limit", args->limit, "Page size: show this many")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app->add_flag("--all", args->all, "Every matching task, not only --limit");
  app->add_flag("--oldest", args->oldest, "Oldest first (default: newest first)");
  app->add_option("--page-token", args->page_token,
                  "Start at this page (the token a previous list printed, in the same order)");
  app->footer(absl::StrCat(kListExamples, kExitCodesHelp));
  return {app, [args, &context] { return RunList(context, *args); }};
}

}  // namespace taskwire::cli
