// Scheduler addresses as users give them: one address stays as it is; a list or a dns:///
// name becomes a target that follows the leader; bad lists are refused naming the entry.
#include "common/scheduler_target.h"

#include "gmock/gmock.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"

namespace taskwire {
namespace {

using ::testing::HasSubstr;

TEST(SchedulerTargetTest, KeepsOneAddressAsItIs) {
  absl::StatusOr<SchedulerTarget> t = ParseSchedulerTarget("scheduler.example:7070");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "scheduler.example:7070");
  EXPECT_FALSE(t->follow_leader);
}

TEST(SchedulerTargetTest, ResolvesAListToOneFamilyAndFollowsTheLeader) {
  absl::StatusOr<SchedulerTarget> t =
      ParseSchedulerTarget("127.0.0.1:7070, localhost:7071,127.0.0.3:7072");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "ipv4:127.0.0.1:7070,127.0.0.1:7071,127.0.0.3:7072");
  EXPECT_TRUE(t->follow_leader);

  t = ParseSchedulerTarget("[::1]:7070,[::1]:7071");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "ipv6:[::1]:7070,[::1]:7071");
}

TEST(SchedulerTargetTest, ADnsNameFollowsTheLeader) {
  absl::StatusOr<SchedulerTarget> t =
      ParseSchedulerTarget("dns:///taskwire-scheduler-headless.taskwire.svc:7070");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "dns:///taskwire-scheduler-headless.taskwire.svc:7070");
  EXPECT_TRUE(t->follow_leader);
  grpc::ChannelArguments args;
  ApplySchedulerTarget(*t, args);  // sets the service config; the channel parses it
}

TEST(SchedulerTargetTest, RefusesBadListsNamingTheEntry) {
  EXPECT_THAT(ParseSchedulerTarget("").status().message(), HasSubstr("empty"));
  EXPECT_THAT(ParseSchedulerTarget("127.0.0.1:7070,,127.0.0.1:7071").status().message(),
              HasSubstr("empty entry"));
  EXPECT_THAT(ParseSchedulerTarget("127.0.0.1:7070,127.0.0.1").status().message(),
              HasSubstr("'127.0.0.1': expected host:port"));
  EXPECT_THAT(ParseSchedulerTarget("127.0.0.1:7070,no-such-host.invalid:7070").status().message(),
              HasSubstr("cannot resolve no-such-host.invalid"));
  EXPECT_THAT(ParseSchedulerTarget("127.0.0.1:7070,[::1]:7071").status().message(),
              HasSubstr("IPv4 and IPv6"));
  EXPECT_EQ(ParseSchedulerTarget("127.0.0.1:7070,127.0.0.1:99999").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace taskwire
