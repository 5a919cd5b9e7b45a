// Keeps the core's info logs (executor connected, tasks recovered ...) out of the test
// output; failures speak through GoogleTest. Set TASKWIRE_TEST_LOG=info to see them.
#include <cstdlib>

#include "spdlog/spdlog.h"

namespace {

const bool kQuiet = [] {
  const char* level = std::getenv("TASKWIRE_TEST_LOG");
  spdlog::set_level(level != nullptr ? spdlog::level::from_str(level) : spdlog::level::warn);
  return true;
}();

}  // namespace
