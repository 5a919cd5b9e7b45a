// The logging flags every taskwire service takes (--log-level, --log-json), for main.cc
// files only: flags live in mains, libraries take LogOptions.
#ifndef TASKWIRE_COMMON_LOG_FLAGS_H_
#define TASKWIRE_COMMON_LOG_FLAGS_H_

#include "CLI/CLI.hpp"
#include "common/logging.h"

namespace taskwire {

inline void AddLogFlags(CLI::App& app, LogOptions& log) {
  app.add_option("--log-level", log.level, "trace, debug, info, warn, error")
      ->envname("TASKWIRE_LOG_LEVEL")
      ->capture_default_str();
  app.add_flag("--log-json", log.json, "one JSON object per log line")
      ->envname("TASKWIRE_LOG_JSON");
}

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_LOG_FLAGS_H_
