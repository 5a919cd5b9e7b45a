#include "executor/process/process_config.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "taskwire/config/v1/executor_config.pb.h"

namespace taskwire::executor {
namespace {

namespace cfg = ::taskwire::config::v1;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ParseInfoTree = ::google::protobuf::TextFormat::ParseInfoTree;

constexpr uint32_t kMaxSlots = 4096;
constexpr uint64_t kMaxOutputBytes = 64 << 20;  // the executor link's default message bound
constexpr uint64_t kMaxStderrTail = 1 << 20;
constexpr uint64_t kMinAddressSpace = 16 << 20;  // below this, most programs die before main
constexpr double kMinTimeoutSeconds = 0.001;
constexpr double kMaxTimeoutSeconds = 30 * 24 * 3600;
constexpr size_t kMaxFileBytes = 1 << 20;

// Keeps the first syntax error with its position (the parser reports 0-based ones).
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  explicit FirstError(absl::string_view filename) : filename_(filename) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat(filename_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  const std::string filename_;
  std::string first_;
};

// Builds errors that point at the field as written in the file.
class Errors {
 public:
  explicit Errors(absl::string_view filename) : filename_(filename) {}

  // `tree` and `message` are the message holding `field`; `index` is -1 unless repeated.
  absl::Status At(const ParseInfoTree* tree, const Message& message, const char* field,
                  int index, absl::string_view path, absl::string_view problem) const {
    std::string where(filename_);
    const FieldDescriptor* fd = message.GetDescriptor()->FindFieldByName(field);
    if (tree != nullptr && fd != nullptr) {
      const auto location = tree->GetLocation(fd, fd->is_repeated() ? std::max(index, 0) : -1);
      if (location.line >= 0) absl::StrAppend(&where, ":", location.line + 1, ":", location.column + 1);
    }
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", path, ": ", problem));
  }

 private:
  const std::string filename_;
};

bool IsValidTypeName(const std::string& type) {  // the rule of HandlerRegistry::Register
  return !type.empty() && type.size() <= 128 &&
         std::all_of(type.begin(), type.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                  c == ':' || c == '-';
         });
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

std::string Quoted(const std::string& s) { return absl::StrCat("\"", absl::CEscape(s), "\""); }

absl::StatusOr<ProcessLimits> ConvertLimits(const cfg::Limits& in, const ParseInfoTree* tree,
                                            const std::string& path, const Errors& errors) {
  ProcessLimits out;
  auto fail = [&](const char* field, absl::string_view problem) {
    return errors.At(tree, in, field, -1, absl::StrCat(path, ".", field), problem);
  };
  if (in.cpu_seconds() > 10'000'000) return fail("cpu_seconds", "must be at most 10000000");
  out.cpu_seconds = in.cpu_seconds();
  if (in.address_space_bytes() != 0 && in.address_space_bytes() < kMinAddressSpace) {
    return fail("address_space_bytes", absl::StrCat("must be 0 (no limit) or at least ",
                                                    kMinAddressSpace));
  }
  out.address_space_bytes = in.address_space_bytes();
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  if (in.open_files() != 0 && (in.open_files() < 4 || in.open_files() > files.rlim_max)) {
    return fail("open_files", absl::StrCat("must be 0 (inherited) or 4..", files.rlim_max,
                                           " (the executor's hard limit)"));
  }
  out.open_files = in.open_files();
  if (in.max_output_bytes() > kMaxOutputBytes) {
    return fail("max_output_bytes", absl::StrCat("must be at most ", kMaxOutputBytes));
  }
  if (in.max_output_bytes() != 0) out.max_output_bytes = in.max_output_bytes();
  if (in.stderr_tail_bytes() > kMaxStderrTail) {
    return fail("stderr_tail_bytes", absl::StrCat("must be at most ", kMaxStderrTail));
  }
  if (in.stderr_tail_bytes() != 0) out.stderr_tail_bytes = in.stderr_tail_bytes();
  return out;
}

absl::StatusOr<ProcessCommand> ConvertTask(const cfg::ProcessTask& in, const ParseInfoTree* tree,
                                           const std::string& path, const Errors& errors) {
  auto fail = [&](const char* field, int index, absl::string_view sub, absl::string_view problem) {
    return errors.At(tree, in, field, index, absl::StrCat(path, ".", field, sub), problem);
  };
  ProcessCommand out;
  if (!IsValidTypeName(in.type())) {
    return fail("type", -1, "",
                absl::StrCat("must be 1..128 characters of [A-Za-z0-9_.:-], got ", Quoted(in.type())));
  }
  out.type = in.type();
  if (in.argv().empty()) return fail("argv", -1, "", "must name the program to run");
  for (int i = 0; i < in.argv_size(); ++i) {
    if (HasNul(in.argv(i))) return fail("argv", i, absl::StrCat("[", i, "]"), "contains a NUL byte");
  }
  const std::string& program = in.argv(0);
  if (!absl::StartsWith(program, "/") || absl::EndsWith(program, "/")) {
    return fail("argv", 0, "[0]",
                absl::StrCat("must be an absolute path to a program (no shell, no PATH search), got ",
                             Quoted(program)));
  }
  out.argv.assign(in.argv().begin(), in.argv().end());
  // Sorted, so the child's environment does not depend on hash order.
  const std::map<std::string, std::string> env(in.env().begin(), in.env().end());
  for (const auto& [name, value] : env) {
    if (name == kUpstreamCountEnv) {
      return fail("env", -1, absl::StrCat("[", Quoted(name), "]"),
                  "is set by the executor for every process task; pick another name");
    }
    if (name.empty() || absl::StrContains(name, '=') || HasNul(name) || HasNul(value)) {
      return fail("env", -1, absl::StrCat("[", Quoted(name), "]"),
                  "names must be non-empty without '=', and neither may contain a NUL byte");
    }
    out.env.push_back(absl::StrCat(name, "=", value));
  }
  if (!in.working_dir().empty()) {
    if (!absl::StartsWith(in.working_dir(), "/") || HasNul(in.working_dir())) {
      return fail("working_dir", -1, "",
                  absl::StrCat("must be an absolute path, got ", Quoted(in.working_dir())));
    }
    out.working_dir = in.working_dir();
  }
  const double timeout = in.timeout_seconds();
  // A positive value below the minimum ends every attempt as it starts (1e-300 even
  // became a zero duration).
  if (!std::isfinite(timeout) || timeout < 0 || timeout > kMaxTimeoutSeconds ||
      (timeout > 0 && timeout < kMinTimeoutSeconds)) {
    return fail("timeout_seconds", -1, "",
                absl::StrCat("must be 0 (none) or from ", kMinTimeoutSeconds, " up to ",
                             kMaxTimeoutSeconds, " seconds"));
  }
  if (timeout > 0) out.timeout = absl::Seconds(timeout);
  out.framed_stdin = in.stdin_format() == cfg::STDIN_FORMAT_FRAMED;
  for (int i = 0; i < in.not_retryable_exit_codes_size(); ++i) {
    const int code = in.not_retryable_exit_codes(i);
    if (code < 1 || code > 255) {
      return fail("not_retryable_exit_codes", i, absl::StrCat("[", i, "]"),
                  absl::StrCat("must be an exit code in 1..255, got ", code));
    }
    out.not_retryable_exit_codes.push_back(code);
  }
  std::sort(out.not_retryable_exit_codes.begin(), out.not_retryable_exit_codes.end());
  out.not_retryable_exit_codes.erase(
      std::unique(out.not_retryable_exit_codes.begin(), out.not_retryable_exit_codes.end()),
      out.not_retryable_exit_codes.end());
  const FieldDescriptor* limits_fd = in.GetDescriptor()->FindFieldByName("limits");
  TW_ASSIGN_OR_RETURN(out.limits, ConvertLimits(in.limits(),
                                                tree ? tree->GetTreeForNested(limits_fd, -1) : nullptr,
                                                absl::StrCat(path, ".limits"), errors));
  return out;
}

absl::StatusOr<ProcessConfig> Convert(const cfg::ExecutorConfig& in, const ParseInfoTree& tree,
                                      const Errors& errors) {
  ProcessConfig out;
  auto fail = [&](const char* field, absl::string_view problem) {
    return errors.At(&tree, in, field, -1, field, problem);
  };
  if (in.thread_slots() > kMaxSlots) return fail("thread_slots", "must be at most 4096");
  if (in.process_slots() > kMaxSlots) return fail("process_slots", "must be at most 4096");
  if (!in.process_tasks().empty() && in.process_slots() == 0) {
    return fail("process_slots", "must be at least 1 when process_tasks are listed");
  }
  out.thread_slots = in.thread_slots();
  out.process_slots = in.process_slots();
  const FieldDescriptor* tasks_fd = in.GetDescriptor()->FindFieldByName("process_tasks");
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < in.process_tasks_size(); ++i) {
    const std::string path = absl::StrCat("process_tasks[", i, "]");
    const ParseInfoTree* task_tree = tree.GetTreeForNested(tasks_fd, i);
    TW_ASSIGN_OR_RETURN(ProcessCommand command,
                        ConvertTask(in.process_tasks(i), task_tree, path, errors));
    if (!seen.insert(command.type).second) {
      return errors.At(task_tree, in.process_tasks(i), "type", -1, absl::StrCat(path, ".type"),
                       absl::StrCat("task type ", Quoted(command.type), " is listed twice"));
    }
    out.commands.push_back(std::move(command));
  }
  return out;
}

}  // namespace

std::string FramedStdin(const std::vector<std::string>& upstream_results,
                        const std::string& payload) {
  std::string out;
  auto frame = [&out](const std::string& bytes) {
    absl::StrAppend(&out, bytes.size(), "\n");
    out += bytes;
    out += '\n';
  };
  for (const std::string& r : upstream_results) frame(r);
  frame(payload);
  return out;
}

absl::StatusOr<ProcessConfig> ParseProcessConfig(absl::string_view text,
                                                 absl::string_view filename) {
  cfg::ExecutorConfig proto;
  FirstError syntax(filename);
  ParseInfoTree tree;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&syntax);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(std::string(text), &proto)) {
    return absl::InvalidArgumentError(
        syntax.first().empty() ? absl::StrCat(filename, ": not a valid executor config")
                               : syntax.first());
  }
  return Convert(proto, tree, Errors(filename));
}

absl::StatusOr<ProcessConfig> LoadProcessConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read executor config ", path, ": ",
                                            std::strerror(errno)));
  }
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", kMaxFileBytes, " bytes"));
  }
  return ParseProcessConfig(text, path);
}

absl::Status CheckNoThreadTypeClash(const ProcessConfig& config,
                                    const std::vector<std::string>& thread_types) {
  const absl::flat_hash_set<std::string> threads(thread_types.begin(), thread_types.end());
  for (size_t i = 0; i < config.commands.size(); ++i) {
    if (threads.contains(config.commands[i].type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "process_tasks[", i, "].type: \"", config.commands[i].type,
          "\" is already a thread task type of this executor; pick another name"));
    }
  }
  return absl::OkStatus();
}

}  // namespace taskwire::executor
