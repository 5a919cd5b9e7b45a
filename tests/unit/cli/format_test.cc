// The small formatters of the human output.
#include "cli/format.h"

#include "gtest/gtest.h"

namespace taskwire::cli {
namespace {

TEST(CountOfTest, UsesTheSingularForOneOnly) {
  EXPECT_EQ(CountOf(1, "attempt"), "1 attempt");
  EXPECT_EQ(CountOf(0, "attempt"), "0 attempts");
  EXPECT_EQ(CountOf(2, "byte"), "2 bytes");
}

}  // namespace
}  // namespace taskwire::cli
