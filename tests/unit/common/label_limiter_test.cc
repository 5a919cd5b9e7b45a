// LabelLimiter: the first N distinct values pass, later ones become "_other", and a value
// once admitted keeps passing.
#include "common/label_limiter.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace taskwire {
namespace {

TEST(LabelLimiterTest, PassesTheFirstNDistinctValues) {
  LabelLimiter limiter(3);
  EXPECT_EQ(limiter.Limit("default"), "default");
  EXPECT_EQ(limiter.Limit("email"), "email");
  EXPECT_EQ(limiter.Limit("default"), "default");  // a repeat does not use up a slot
  EXPECT_EQ(limiter.Limit("video"), "video");
}

TEST(LabelLimiterTest, ReturnsOtherForNewValuesOnceFull) {
  LabelLimiter limiter(2);
  limiter.Limit("a");
  limiter.Limit("b");
  EXPECT_EQ(limiter.Limit("c"), "_other");
  EXPECT_EQ(limiter.Limit("d"), "_other");
  EXPECT_EQ(limiter.Limit("c"), "_other");  // refused values are not admitted later
  EXPECT_EQ(LabelLimiter::kOther, "_other");
}

TEST(LabelLimiterTest, KeepsReturningAValueItAlreadyAdmitted) {
  LabelLimiter limiter(2);
  limiter.Limit("a");
  limiter.Limit("b");
  limiter.Limit("c");
  EXPECT_EQ(limiter.Limit("a"), "a");
  EXPECT_EQ(limiter.Limit("b"), "b");
}

TEST(LabelLimiterTest, WithZeroSlotsReturnsOtherForEverything) {
  LabelLimiter limiter(0);
  EXPECT_EQ(limiter.Limit("a"), "_other");
  EXPECT_EQ(limiter.Limit(""), "_other");
}

TEST(LabelLimiterTest, TreatsTheEmptyStringAsAValue) {
  LabelLimiter limiter(1);
  EXPECT_EQ(limiter.Limit(""), "");
  EXPECT_EQ(limiter.Limit("a"), "_other");
}

// Eight threads offer 50 distinct values each (400 in all) to a limiter with 10 slots, all
// at once: exactly 10 distinct values come back as themselves, the rest as "_other", and
// each admitted value still passes afterwards.
TEST(LabelLimiterTest, AdmitsExactlyNValuesWhenManyThreadsRace) {
  constexpr int kThreads = 8;
  constexpr int kValuesPerThread = 50;
  constexpr size_t kSlots = 10;
  LabelLimiter limiter(kSlots);
  absl::Mutex mu;
  absl::flat_hash_set<std::string> admitted;
  int others = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kValuesPerThread; ++i) {
        const std::string value = absl::StrCat("v", t, "_", i);
        const std::string got = limiter.Limit(value);
        absl::MutexLock lock(&mu);
        if (got == "_other") {
          ++others;
        } else {
          EXPECT_EQ(got, value);
          admitted.insert(got);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(admitted.size(), kSlots);
  EXPECT_EQ(others, kThreads * kValuesPerThread - static_cast<int>(kSlots));
  for (const std::string& value : admitted) EXPECT_EQ(limiter.Limit(value), value);
}

}  // namespace
}  // namespace taskwire
