// Writes the seed corpora of the fuzz targets (corpus/<target>/) from valid inputs, and a
// few near misses: specs and workflows as clients send them, records as a core stores
// them, configs and command lines as users write them, and short link scripts. The
// output is committed; run it again only when an input format changes:
//   build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
// Deterministic: the same build writes the same files (names are seed-NN).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/store/memory_task_store.h"
#include "scheduler/store/record_codec.h"
#include "taskwire/v1/task.pb.h"
#include "taskwire/v1/workflow.pb.h"
#include "tests/unit/fake_executor_channel.h"

namespace taskwire::fuzz {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::vector<std::string>& seeds) {
  fs::create_directories(dir);
  for (size_t i = 0; i < seeds.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "seed-%02zu", i);
    std::ofstream(dir / name, std::ios::binary) << seeds[i];
  }
}

v1::TaskSpec Spec(std::string type, std::string payload = "hello") {
  v1::TaskSpec s;
  s.set_type(std::move(type));
  s.set_payload(std::move(payload));
  return s;
}

std::vector<std::string> TaskSpecSeeds() {
  std::vector<v1::TaskSpec> specs;
  specs.push_back(Spec("echo"));
  specs.push_back(Spec("sha256", std::string(300, 'x')));
  v1::TaskSpec full = Spec("resize.image:v2", "{\"w\":640}");
  full.set_queue("images");
  full.set_priority(7);
  ToProto(absl::Seconds(30), full.mutable_timeout());
  (*full.mutable_labels())["team"] = "media";
  (*full.mutable_labels())["run"] = "42";
  full.mutable_retry()->set_max_attempts(5);
  ToProto(absl::Seconds(2), full.mutable_retry()->mutable_initial_backoff());
  full.mutable_retry()->set_multiplier(2);
  ToProto(absl::Minutes(1), full.mutable_retry()->mutable_max_backoff());
  full.mutable_retry()->set_jitter(0.2);
  ToProto(absl::Hours(1), full.mutable_expires_after());
  full.set_idempotency_key("order-1234");
  ToProto(absl::Hours(48), full.mutable_retention());
  specs.push_back(full);
  v1::TaskSpec eta = Spec("report");
  ToProto(absl::FromUnixSeconds(1'700'003'600), eta.mutable_not_before());
  specs.push_back(eta);
  v1::TaskSpec countdown = Spec("report");
  ToProto(absl::Seconds(90), countdown.mutable_countdown());
  specs.push_back(countdown);
  v1::TaskSpec low = Spec("batch");
  low.set_priority(-100);
  low.set_queue("bulk");
  specs.push_back(low);
  // Near misses: each breaks one rule.
  specs.push_back(Spec("bad type"));
  v1::TaskSpec high = Spec("echo");
  high.set_priority(101);
  specs.push_back(high);
  v1::TaskSpec negative = Spec("echo");
  negative.mutable_timeout()->set_seconds(-1);
  specs.push_back(negative);
  v1::TaskSpec both = eta;
  ToProto(absl::Seconds(5), both.mutable_countdown());
  specs.push_back(both);
  v1::TaskSpec jitter = Spec("echo");
  jitter.mutable_retry()->set_jitter(1.5);
  jitter.mutable_retry()->set_multiplier(0.5);
  specs.push_back(jitter);
  v1::TaskSpec far = Spec("echo");
  far.mutable_not_before()->set_seconds(253402300799);  // year 9999
  far.mutable_expires_after()->set_seconds(315576000000);
  specs.push_back(far);
  v1::TaskSpec label = Spec("echo");
  (*label.mutable_labels())[""] = "empty key";
  specs.push_back(label);
  std::vector<std::string> out;
  for (const v1::TaskSpec& s : specs) out.push_back(s.SerializeAsString());
  out.push_back("");
  return out;
}

v1::WorkflowSpec Workflow(const std::vector<std::pair<std::string, std::vector<std::string>>>& nodes) {
  v1::WorkflowSpec w;
  for (const auto& [name, after] : nodes) {
    v1::WorkflowNode* node = w.add_nodes();
    node->set_name(name);
    *node->mutable_task() = Spec(name.size() % 2 ? "echo" : "thread.sleep", name);
    for (const std::string& a : after) node->add_after(a);
  }
  return w;
}

std::vector<std::string> WorkflowSpecSeeds() {
  std::vector<v1::WorkflowSpec> specs = {
      Workflow({{"a", {}}}),
      Workflow({{"a", {}}, {"b", {"a"}}, {"c", {"b"}}}),                     // chain
      Workflow({{"a", {}}, {"b", {}}, {"c", {}}}),                           // group
      Workflow({{"a", {}}, {"b", {}}, {"cb", {"a", "b"}}}),                  // chord
      Workflow({{"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"b", "c"}}}),  // diamond
      Workflow({{"d", {"b", "c"}}, {"c", {"a"}}, {"b", {"a"}}, {"a", {}}}),  // backward edges
      Workflow({{"a", {"c"}}, {"b", {"a"}}, {"c", {"b"}}}),                  // cycle
      Workflow({{"a", {"a"}}}),                                              // self-edge
      Workflow({{"a", {}}, {"a", {}}}),                                      // repeated name
      Workflow({{"a", {}}, {"b", {"x"}}}),                                   // unknown name
      Workflow({{"a", {}}, {"b", {"a", "a"}}}),                              // listed twice
      Workflow({{"bad name", {}}}),
  };
  v1::WorkflowSpec labelled = specs[1];
  (*labelled.mutable_labels())["team"] = "data";
  labelled.set_idempotency_key("nightly-2026-01-02");
  specs.push_back(labelled);
  v1::WorkflowSpec node_key = specs[0];
  node_key.mutable_nodes(0)->mutable_task()->set_idempotency_key("not allowed");
  specs.push_back(node_key);
  std::vector<std::string> out;
  for (const v1::WorkflowSpec& s : specs) out.push_back(s.SerializeAsString());
  // Byte scripts for the drawn-graph reading.
  std::mt19937 rng(7);
  for (int i = 0; i < 8; ++i) {
    std::string bytes(16 + 8 * i, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    out.push_back(bytes);
  }
  return out;
}

std::string Part(const std::string& bytes) {
  std::string out;
  out.push_back(static_cast<char>((bytes.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(bytes.size() & 0xff));
  return out + bytes;
}

// Records as a core stores them: tasks in every state, with attempts, and a workflow.
std::vector<std::string> RecordCodecSeeds() {
  using namespace ::taskwire::scheduler;  // NOLINT(google-build-using-namespace)
  FakeClock clock;
  MemoryTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, CoreOptions{});
  std::vector<TaskSpec> specs(4);
  for (size_t i = 0; i < specs.size(); ++i) {
    specs[i].type = "echo";
    specs[i].queue = "default";
    specs[i].payload = absl::StrCat("payload ", i);
    specs[i].labels = {{"k", "v"}};
  }
  specs[1].countdown = absl::Hours(1);
  specs[2].retry.max_attempts = 3;
  specs[3].idempotency_key = "key-3";
  std::vector<std::string> ids = *core.Submit(specs);
  WorkflowSpec wf;
  for (int i = 0; i < 3; ++i) {
    WorkflowNodeSpec node{absl::StrCat("n", i), specs[0], {}};
    if (i > 0) node.after.push_back(absl::StrCat("n", i - 1));
    wf.nodes.push_back(node);
  }
  wf.labels = {{"team", "data"}};
  SubmittedWorkflow submitted = *core.SubmitWorkflow(wf);
  auto channel = std::make_shared<scheduler::testing::FakeExecutorChannel>();
  ExecutorHello hello;
  hello.executor_id = "e1";
  hello.incarnation = "e1";
  hello.task_types = {{"echo", RunMode::kThread}};
  hello.slots = 2;
  ExecutorSession session = *core.ConnectExecutor(hello, channel);
  // One succeeds, one fails (and is retried), the rest stay running or queued.
  std::vector<AssignmentOut> sent = channel->TakeAssignments();
  if (sent.size() >= 2) {
    AttemptResult ok;
    ok.task_id = sent[0].task_id;
    ok.attempt = sent[0].attempt;
    ok.output = "out";
    AttemptResult failed;
    failed.task_id = sent[1].task_id;
    failed.attempt = sent[1].attempt;
    failed.outcome = AttemptOutcome::kFailed;
    failed.error = "boom";
    failed.exit_code = 3;
    core.OnResults(session, {ok, failed});
  }
  (void)core.CancelTask(ids[3]);

  std::vector<std::string> out;
  std::vector<std::string> workflows;
  workflows.push_back(EncodeWorkflow(core.GetWorkflow(submitted.workflow_id)->record));
  std::vector<std::string> all = ids;
  all.insert(all.end(), submitted.task_ids.begin(), submitted.task_ids.end());
  for (size_t i = 0; i < all.size(); ++i) {
    const TaskRecord record = core.GetTask(all[i])->record;
    const std::string rest = EncodeTask(record);
    const std::string spec = EncodeTaskSpec(*record.spec);
    const std::string& workflow = record.workflow_id.empty() ? std::string() : workflows[0];
    out.push_back(Part(rest) + Part(spec) + Part(workflow) + std::string("\x01\x02\x03\x04", 4));
  }
  out.push_back(Part("") + Part("") + Part(workflows[0]));
  out.push_back(workflows[0]);  // the whole input as one workflow record
  // An old record that holds its spec inside (field 4 of StoredTask, a nested message).
  const TaskRecord first = core.GetTask(ids[0])->record;
  const std::string spec = EncodeTaskSpec(*first.spec);
  std::string old = EncodeTask(first);
  old.push_back(static_cast<char>((4 << 3) | 2));
  old.push_back(static_cast<char>(spec.size()));
  old += spec;
  out.push_back(Part(old) + Part("") + Part(""));
  out.push_back(EncodeTask(first));
  return out;
}

std::vector<std::string> ExecutorConfigSeeds() {
  return {
      "",
      "thread_slots: 4\n",
      "process_slots: 2\n"
      "process_tasks {\n"
      "  type: \"wc\"\n"
      "  argv: \"/usr/bin/wc\"\n"
      "  argv: \"-c\"\n"
      "}\n",
      "# every field\n"
      "thread_slots: 8\n"
      "process_slots: 4\n"
      "process_tasks {\n"
      "  type: \"convert.image\"\n"
      "  argv: [\"/usr/bin/convert\", \"-\", \"png:-\"]\n"
      "  env { key: \"LANG\" value: \"C.UTF-8\" }\n"
      "  env { key: \"HOME\" value: \"/tmp\" }\n"
      "  working_dir: \"/tmp\"\n"
      "  timeout_seconds: 30.5\n"
      "  limits { cpu_seconds: 10 address_space_bytes: 536870912 open_files: 64\n"
      "           max_output_bytes: 1048576 stderr_tail_bytes: 4096 }\n"
      "  stdin_format: STDIN_FORMAT_FRAMED\n"
      "  not_retryable_exit_codes: [2, 64, 2]\n"
      "}\n"
      "process_tasks { type: \"sh\" argv: \"/bin/sh\" argv: \"-c\" argv: \"cat\" }\n",
      "process_slots: 1\nprocess_tasks { type: \"x\" argv: \"wc\" }\n",
      "process_slots: 1\nprocess_tasks { type: \"x\" argv: \"/bin/x\" }\n"
      "process_tasks { type: \"x\" argv: \"/bin/y\" }\n",
      "process_tasks { type: \"x\" argv: \"/bin/x\" }\n",
      "process_slots: 1\nprocess_tasks { type: \"x\" argv: \"/bin/x\" env { key: \"A=B\" value: \"\" } }\n",
      "process_slots: 1\nprocess_tasks { type: \"x\" argv: \"/bin/x\" timeout_seconds: -1 }\n",
      "process_slots: 1\nprocess_tasks { type: \"x\" argv: \"/bin/x\" limits { address_space_bytes: 1 } }\n",
      "process_slots: 1\nprocess_tasks { type: \"x\" argv: \"/bin/x\\000y\" }\n",
      "process_slots: 1\nprocess_tasks { type: \"x\" argv: \"/bin/x\" not_retryable_exit_codes: 256 }\n",
      "thread_slots: 5000\n",
      "process_tasks {\n  type: \"unterminated\n",
      "unknown_field: 1\n",
  };
}

std::vector<std::string> CliArgsSeeds() {
  return {
      "1.5",
      "300ms\n10s\n1m30s\n1h\n0",
      "echo\necho:hello\nsha256:a:b:c\n:payload",
      "queued\nFAILED\nTASK_STATE_RUNNING\nnot-a-state",
      "k=v\nteam=data\n=v\nnoequals",
      "2026-01-02T15:04:05Z\n2026-01-02T15:04:05+01:00\n2026-13-40T99:99:99Z",
      "default\n2s\n30s\n\n1h\n24h\nkey-1\nresize:img\nthumb:img",
      "q\n1s\n\n2026-01-02T15:04:05Z\n10m\n\nkey\na\nb\nc",
      "-1\n-1s\ninf\nnan\n1e309\n1e-9\n2562047788015215h",
      "a\na\nk=1\nk=2",
      "",
  };
}

// Scripts in the byte language of executor_link_fuzzer.cc: the submits, then messages.
std::string LinkScript(const std::vector<std::vector<int>>& ops) {
  // Two tasks of type "a" on the default queue, then a chain of two nodes.
  std::string out = {1, 0, 0, 2, 0, 0, 0, 2, 0, /*chain*/ 0, 0, 0, 2, 0, 0, 0, 2, 0, 0};
  for (const std::vector<int>& op : ops) {
    for (int b : op) out.push_back(static_cast<char>(b));
  }
  return out;
}

std::vector<std::string> ExecutorLinkSeeds() {
  const std::vector<int> hello_e0 = {0, 0, 0, 2, 0, 4, 0, 0};   // both types, 4 slots
  const std::vector<int> hello_e1 = {1, 0, 1, 0, 3, 1, 0, 0};   // type a, 1 slot
  const std::vector<int> succeed_e0 = {0, 2, 0, 1, 0, 0, 1};    // its first attempt
  const std::vector<int> fail_e0 = {0, 3, 0, 1, 1, 1, 1};       // its second attempt
  const std::vector<int> tick = {0, 8, 20};
  const std::vector<int> silence = {0, 8, 39};
  const std::vector<int> drain_e0 = {0, 6};
  const std::vector<int> drop_e0 = {0, 7};
  const std::vector<int> rehello_e0 = {0, 1, 0, 2, 0, 4, 2, 1, 1, 0, 1, 1};  // still runs two
  const std::vector<int> impostor_e0 = {0, 0, 1, 2, 0, 4, 0, 0};  // another incarnation
  std::vector<std::string> out = {
      LinkScript({hello_e0, succeed_e0, succeed_e0, tick, succeed_e0}),
      LinkScript({hello_e0, fail_e0, tick, tick, succeed_e0, succeed_e0}),
      LinkScript({hello_e0, drop_e0, rehello_e0, succeed_e0, fail_e0}),
      LinkScript({hello_e0, hello_e1, silence, tick, succeed_e0}),
      LinkScript({hello_e0, drain_e0, succeed_e0, hello_e1, succeed_e0}),
      LinkScript({hello_e0, impostor_e0, rehello_e0, succeed_e0}),
      LinkScript({hello_e1, {1, 9, 0}, {1, 2, 0, 1, 0, 0, 1}, {1, 10, 0, 0, 2, 0}}),
  };
  std::mt19937 rng(11);
  for (int i = 0; i < 16; ++i) {
    std::string bytes(32 + 24 * i, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    out.push_back(bytes);
  }
  return out;
}

}  // namespace
}  // namespace taskwire::fuzz

int main(int argc, char** argv) {
  using namespace taskwire::fuzz;  // NOLINT(google-build-using-namespace)
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  Write(root / "task_spec", TaskSpecSeeds());
  Write(root / "workflow_spec", WorkflowSpecSeeds());
  Write(root / "record_codec", RecordCodecSeeds());
  Write(root / "executor_config", ExecutorConfigSeeds());
  Write(root / "cli_args", CliArgsSeeds());
  Write(root / "executor_link", ExecutorLinkSeeds());
  return 0;
}
