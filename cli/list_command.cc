// taskwire list: the tasks the scheduler knows, filtered, newest first (or oldest first, a
// page at a time, as the scheduler answers them).
#include <cstdint>
#include <deque>
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

// The largest page the scheduler answers (its ListTasks page_size limit).
constexpr int kMaxPageSize = 1000;

constexpr char kListExamples[] =
    "Examples:\n"
    "  taskwire list\n"
    "  taskwire list --state failed --queue cpu\n"
    "  taskwire list --type sha256 --all --json | jq -r .id\n"
    "  taskwire list --oldest --limit 10 --page-token <token printed by the previous page>\n"
    "\n"
    "Tasks come newest first: the --limit newest that match (all of them with --all). The\n"
    "scheduler answers oldest first, so this reads every matching task, 1000 per call;\n"
    "on a scheduler that holds very many, filter or use --oldest. With --oldest (implied\n"
    "by --page-token) tasks come in the scheduler's order, one page of --limit; when more\n"
    "remain, the next page token is printed last (with --json as a line\n"
    "{\"next_page_token\": ...}).\n\n";

v1::ListTasksRequest Filters(const ListArgs& args) {
  v1::ListTasksRequest request;
  request.set_state(args.state);
  request.set_queue(args.queue);
  request.set_type(args.type);
  return request;
}

// Follows the pages to the last one, keeping the newest --limit (or all), then prints them
// newest first.
int RunListNewest(Context& context, const ListArgs& args) {
  v1::ListTasksRequest request = Filters(args);
  request.set_page_size(kMaxPageSize);
  std::deque<v1::Task> newest;
  uint64_t older = 0;  // matching tasks left out by --limit
  while (true) {
    absl::StatusOr<v1::ListTasksResponse> page = context.client().ListTasks(request);
    if (!page.ok()) return context.ServerError(page.status());
    for (v1::Task& task : *page->mutable_tasks()) {
      newest.push_back(std::move(task));
      if (!args.all && newest.size() > static_cast<size_t>(args.limit)) {
        newest.pop_front();
        ++older;
      }
    }
    const std::string& next = page->next_page_token();
    if (next.empty()) break;
    if (next == request.page_token()) {  // a scheduler bug would otherwise loop forever
      return context.ServerError(
          absl::InternalError("the scheduler returned the same page token twice"));
    }
    request.set_page_token(next);
  }
  v1::ListTasksResponse all;
  for (auto it = newest.rbegin(); it != newest.rend(); ++it) *all.add_tasks() = std::move(*it);
  context.out().TaskPage(all);
  context.out().EndTaskList({});
  if (older > 0) {
    context.Warn(absl::StrCat(older, " older ", older == 1 ? "task" : "tasks",
                              " not shown (--limit, --all, --oldest)"));
  }
  return kExitOk;
}

int RunList(Context& context, const ListArgs& args) {
  if (!args.oldest && args.page_token.empty()) return RunListNewest(context, args);
  v1::ListTasksRequest request = Filters(args);
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
  app->add_option("--limit", args->limit, "Show this many (with --oldest: the page size)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app->add_flag("--all", args->all, "Every matching task, not only --limit");
  app->add_flag("--oldest", args->oldest,
                "Oldest first, a page of --limit at a time (the scheduler's order)");
  app->add_option("--page-token", args->page_token,
                  "With --oldest (implied): start at this page (from a previous list)");
  app->footer(absl::StrCat(kListExamples, kExitCodesHelp));
  return {app, [args, &context] { return RunList(context, *args); }};
}

}  // namespace taskwire::cli
