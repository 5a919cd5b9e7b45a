// PackedTime and PackedDuration: 8 bytes that give back what was stored, to the
// nanosecond, with the infinities kept and out-of-range values saturating to them.
#include "scheduler/core/packed_time.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace taskwire::scheduler {
namespace {

TEST(PackedTimeTest, IsHalfTheSizeOfTheAbslTypes) {
  EXPECT_EQ(sizeof(PackedTime), 8u);
  EXPECT_EQ(sizeof(PackedDuration), 8u);
}

TEST(PackedTimeTest, GivesBackTimesToTheNanosecond) {
  const absl::Time t = absl::FromUnixNanos(1'764'892'800'123'456'789);
  PackedTime packed = t;
  EXPECT_EQ(absl::Time(packed), t);
  EXPECT_EQ(absl::Time(PackedTime()), absl::UnixEpoch());
  EXPECT_EQ(absl::Time(PackedTime(absl::FromUnixSeconds(-86400))), absl::FromUnixSeconds(-86400));
  // Finer than a nanosecond is cut to the nanosecond below.
  EXPECT_EQ(absl::Time(PackedTime(t + absl::Nanoseconds(0.5))), t);
}

TEST(PackedTimeTest, KeepsTheInfinitiesAndSaturatesBeyondTheRange) {
  EXPECT_EQ(absl::Time(PackedTime(absl::InfiniteFuture())), absl::InfiniteFuture());
  EXPECT_EQ(absl::Time(PackedTime(absl::InfinitePast())), absl::InfinitePast());
  EXPECT_EQ(absl::Duration(PackedDuration(absl::InfiniteDuration())), absl::InfiniteDuration());
  EXPECT_EQ(absl::Duration(PackedDuration(-absl::InfiniteDuration())),
            -absl::InfiniteDuration());

  // 1,000 years: past what 64 bits of nanoseconds hold, so it saturates.
  const absl::Duration millennium = absl::Hours(24 * 365 * 1000);
  EXPECT_EQ(absl::Duration(PackedDuration(millennium)), absl::InfiniteDuration());
  EXPECT_EQ(absl::Time(PackedTime(absl::UnixEpoch() + millennium)), absl::InfiniteFuture());
  EXPECT_EQ(absl::Time(PackedTime(absl::UnixEpoch() - millennium)), absl::InfinitePast());
  // The largest finite value stays finite.
  const absl::Duration max_finite = absl::Nanoseconds(std::numeric_limits<int64_t>::max() - 1);
  EXPECT_EQ(absl::Duration(PackedDuration(max_finite)), max_finite);
}

TEST(PackedTimeTest, ComparesWithItselfAndWithTheAbslType) {
  const absl::Time t = absl::FromUnixSeconds(100);
  PackedTime a = t;
  PackedTime b = t + absl::Seconds(1);
  EXPECT_TRUE(a == PackedTime(t));
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(a < t + absl::Seconds(1));  // through absl::Time
  EXPECT_TRUE(a == t);
  EXPECT_EQ(b - t, absl::Seconds(1));
  PackedDuration d = absl::Seconds(3);
  EXPECT_TRUE(d == PackedDuration(absl::Milliseconds(3000)));
  EXPECT_TRUE(d > absl::ZeroDuration());
}

}  // namespace
}  // namespace taskwire::scheduler
