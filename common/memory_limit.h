// The memory a process may use before the OOM killer acts: the smallest memory limit of
// its cgroup and of the cgroup's ancestors (cgroup v2 `memory.max`, v1
// `memory.limit_in_bytes`), or the machine's memory when no cgroup sets one. Exported as
// taskwire_memory_limit_bytes beside process_resident_memory_bytes, so that the memory
// alert and the sizing in docs/deploy.md need no container metrics from elsewhere.
// Header-only, like the process collector that reads it at each scrape.
#ifndef TASKWIRE_COMMON_MEMORY_LIMIT_H_
#define TASKWIRE_COMMON_MEMORY_LIMIT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace taskwire {

// One limit file's content; nullopt for "max" (v2) or the page-rounded 2^63 of v1, which
// both mean "no limit here".
inline std::optional<double> ParseCgroupMemoryLimit(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  double bytes = 0;
  if (text == "max" || !absl::SimpleAtod(text, &bytes) || bytes <= 0 || bytes >= 0x1p62) {
    return std::nullopt;
  }
  return bytes;
}

// The limit files that apply to the process whose /proc/<pid>/cgroup is `proc_cgroup`,
// from its own cgroup up to the hierarchy's root, under the mount point `cgroup_root`.
// cgroup v2 has the line "0::/path"; v1 a line whose controllers include "memory". A
// container without a cgroup namespace sees a host path that does not exist under its own
// mount: the walk up still reaches the mount's root, which is the container's cgroup.
inline std::vector<std::string> CgroupMemoryLimitFiles(absl::string_view proc_cgroup,
                                                       const std::string& cgroup_root) {
  // In a hybrid hierarchy the memory controller sits on v1, so a v1 line wins.
  std::string directory, file, path;
  for (absl::string_view line : absl::StrSplit(proc_cgroup, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    if (absl::StrContains(absl::StrCat(",", fields[1], ","), ",memory,")) {
      directory = cgroup_root + "/memory";
      file = "memory.limit_in_bytes";
      path = std::string(absl::StripSuffix(fields[2], "/"));
      break;
    }
    if (fields[0] == "0" && fields[1].empty()) {
      directory = cgroup_root;
      file = "memory.max";
      path = std::string(absl::StripSuffix(fields[2], "/"));
    }
  }
  std::vector<std::string> files;
  if (file.empty()) return files;
  while (true) {
    files.push_back(directory + path + "/" + file);
    if (path.empty()) break;
    path.resize(path.rfind('/'));
  }
  return files;
}

// The "MemTotal" line of /proc/meminfo, in bytes.
inline std::optional<double> ParseMemTotal(absl::string_view meminfo) {
  for (absl::string_view line : absl::StrSplit(meminfo, '\n')) {
    if (!absl::ConsumePrefix(&line, "MemTotal:")) continue;
    line = absl::StripAsciiWhitespace(line);
    double kib = 0;
    if (absl::ConsumeSuffix(&line, "kB") &&
        absl::SimpleAtod(absl::StripAsciiWhitespace(line), &kib)) {
      return kib * 1024;
    }
    break;
  }
  return std::nullopt;
}

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_MEMORY_LIMIT_H_
