// WaiterRegistry: callbacks by id under tokens that withdraw them; taking an id's waiters
// empties it, and a withdrawn or taken waiter cannot be removed twice.
#include "scheduler/core/waiter_registry.h"

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire::scheduler {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

using Callback = std::function<std::string()>;

std::vector<std::string> Called(std::vector<Callback> callbacks) {
  std::vector<std::string> out;
  for (Callback& c : callbacks) out.push_back(c());
  return out;
}

TEST(WaiterRegistryTest, TakesEveryWaiterOfAnIdOnceAndNoOtherIds) {
  WaiterRegistry<Callback> waiters;
  waiters.Add("t1", [] { return std::string("first"); });
  waiters.Add("t1", [] { return std::string("second"); });
  waiters.Add("t2", [] { return std::string("other"); });

  EXPECT_THAT(Called(waiters.Take("t1")), UnorderedElementsAre("first", "second"));
  EXPECT_THAT(waiters.Take("t1"), IsEmpty());
  EXPECT_THAT(Called(waiters.Take("t2")), UnorderedElementsAre("other"));
}

TEST(WaiterRegistryTest, RemovesAWaiterByItsTokenOnlyOnce) {
  WaiterRegistry<Callback> waiters;
  const uint64_t gone = waiters.Add("t1", [] { return std::string("gone"); });
  const uint64_t kept = waiters.Add("t1", [] { return std::string("kept"); });
  EXPECT_NE(gone, 0u);
  EXPECT_NE(gone, kept);

  EXPECT_TRUE(waiters.Remove("t1", gone));
  EXPECT_FALSE(waiters.Remove("t1", gone));
  EXPECT_FALSE(waiters.Remove("t2", kept));  // a token belongs to its id

  EXPECT_THAT(Called(waiters.Take("t1")), UnorderedElementsAre("kept"));
  EXPECT_FALSE(waiters.Remove("t1", kept));  // taken: the caller is being answered
}

TEST(WaiterRegistryTest, AddsAgainAfterAnIdWasTaken) {
  WaiterRegistry<Callback> waiters;
  waiters.Add("t1", [] { return std::string("a"); });
  ASSERT_THAT(waiters.Take("t1"), SizeIs(1));

  const uint64_t token = waiters.Add("t1", [] { return std::string("b"); });

  EXPECT_TRUE(waiters.Remove("t1", token));
  EXPECT_THAT(waiters.Take("t1"), IsEmpty());
}

}  // namespace
}  // namespace taskwire::scheduler
