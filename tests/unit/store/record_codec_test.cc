// record_codec on its own: every field of both record types survives Encode/Decode, the
// infinities and every enum value too, a record of the older one-blob format still reads,
// and bad bytes are DATA_LOSS rather than a crash.
#include "scheduler/store/record_codec.h"

#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskwire/store/v1/stored_records.pb.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/legacy_record.h"
#include "tests/unit/store/store_test_util.h"

namespace taskwire::scheduler {
namespace {

using ::taskwire::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::taskwire::scheduler::testing;  // NOLINT: test helpers

absl::StatusOr<TaskRecord> RoundTrip(const TaskRecord& r) {
  return DecodeTask(EncodeTask(r), EncodeTaskSpec(*r.spec));
}

TEST(RecordCodecTest, RoundTripsEveryFieldOfATask) {
  const TaskRecord original = FullTask();

  ASSERT_OK_AND_ASSIGN(TaskRecord decoded, RoundTrip(original));

  ExpectSameTask(decoded, original);
}

TEST(RecordCodecTest, KeepsTheSpecOutOfTheRecord) {
  TaskRecord r = FullTask();
  auto spec = std::make_shared<TaskSpec>(*r.spec);
  spec->payload = std::string(64 * 1024, 'p');
  r.spec = spec;

  const std::string record = EncodeTask(r);

  EXPECT_LT(record.size(), 4096u);
  EXPECT_THAT(DecodeTask(record, ""),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("has no spec")));
  EXPECT_THAT(DecodeTask(record, "\xff\xff"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("spec")));
}

TEST(RecordCodecTest, ReadsARecordThatHoldsItsSpecAsOlderVersionsWroteIt) {
  const TaskRecord original = FullTask();
  TaskRecord other = Task("b", 2, 1, TaskState::kQueued);

  // The spec inside the record wins over a spec blob (there is none for such rows).
  ASSERT_OK_AND_ASSIGN(TaskRecord decoded,
                       DecodeTask(LegacyTaskBlob(original), EncodeTaskSpec(*other.spec)));

  ExpectSameTask(decoded, original);
}

TEST(RecordCodecTest, RoundTripsEveryFieldOfAWorkflow) {
  const WorkflowRecord original = FullWorkflow();

  ASSERT_OK_AND_ASSIGN(WorkflowRecord decoded, DecodeWorkflow(EncodeWorkflow(original)));

  ExpectSameWorkflow(decoded, original);
}

// Fails when a record type gains (or loses) a field, as a reminder: add it to
// stored_records.proto, record_codec.cc, FullTask()/FullWorkflow() and ExpectSame*() in
// store_test_util.h, then update the size here. (Sizes of x86-64 with libstdc++.)
TEST(RecordCodecTest, KnowsEveryFieldOfTheRecordTypes) {
#if defined(__x86_64__) && defined(__GLIBCXX__)
  EXPECT_EQ(sizeof(RetryPolicy), 40u) << "RetryPolicy changed: update the codec";
  EXPECT_EQ(sizeof(TaskSpec), 272u) << "TaskSpec changed: update the codec";
  EXPECT_EQ(sizeof(AttemptRecord), 112u) << "AttemptRecord changed: update the codec";
  EXPECT_EQ(sizeof(TaskRecord), 248u) << "TaskRecord changed: update the codec";
  EXPECT_EQ(sizeof(WorkflowNodeRecord), 88u) << "WorkflowNodeRecord changed: update the codec";
  EXPECT_EQ(sizeof(WorkflowRecord), 280u) << "WorkflowRecord changed: update the codec";
#else
  GTEST_SKIP() << "record sizes are checked on x86-64 with libstdc++ only";
#endif
}

TEST(RecordCodecTest, KeepsTheInfinitiesOfTimesAndDurations) {
  TaskRecord r = Task("a", 1, 1, TaskState::kScheduled);
  auto spec = std::make_shared<TaskSpec>(*r.spec);
  spec->not_before = absl::InfiniteFuture();
  spec->timeout = absl::InfiniteDuration();
  spec->expires_after = -absl::InfiniteDuration();
  r.spec = spec;
  r.created_at = absl::InfinitePast();
  r.finished_at = absl::InfinitePast();
  r.scheduled_for = absl::InfiniteFuture();
  r.expires_at = absl::InfiniteFuture();
  r.retain_until = absl::InfinitePast();

  ASSERT_OK_AND_ASSIGN(TaskRecord decoded, RoundTrip(r));

  EXPECT_EQ(decoded.spec->not_before, absl::InfiniteFuture());
  EXPECT_EQ(decoded.spec->timeout, absl::InfiniteDuration());
  EXPECT_EQ(decoded.spec->expires_after, -absl::InfiniteDuration());
  EXPECT_EQ(decoded.created_at, absl::InfinitePast());
  EXPECT_EQ(decoded.finished_at, absl::InfinitePast());
  EXPECT_EQ(decoded.scheduled_for, absl::InfiniteFuture());
  EXPECT_EQ(decoded.expires_at, absl::InfiniteFuture());
  EXPECT_EQ(decoded.retain_until, absl::InfinitePast());
}

TEST(RecordCodecTest, KeepsTimesToTheMicrosecondRoundingDown) {
  const absl::Time t = absl::FromUnixNanos(1'764'000'000'123'456'789);
  EXPECT_EQ(DecodeTime(EncodeTime(t)), absl::FromUnixMicros(1'764'000'000'123'456));
  EXPECT_EQ(DecodeTime(EncodeTime(absl::UnixEpoch())), absl::UnixEpoch());
  EXPECT_EQ(EncodeTime(absl::InfinitePast()), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(EncodeTime(absl::InfiniteFuture()), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(DecodeDuration(EncodeDuration(absl::Milliseconds(-3))), absl::Milliseconds(-3));
}

TEST(RecordCodecTest, RoundTripsEveryTaskStateAndAttemptOutcome) {
  for (TaskState state : {TaskState::kPending, TaskState::kScheduled, TaskState::kQueued,
                          TaskState::kRunning, TaskState::kSucceeded, TaskState::kFailed,
                          TaskState::kCancelled, TaskState::kExpired}) {
    ASSERT_OK_AND_ASSIGN(TaskRecord decoded, RoundTrip(Task("a", 1, 1, state)));
    EXPECT_EQ(decoded.state, state) << static_cast<int>(state);
  }
  for (AttemptOutcome outcome : {AttemptOutcome::kRunning, AttemptOutcome::kSucceeded,
                                 AttemptOutcome::kFailed, AttemptOutcome::kCancelled,
                                 AttemptOutcome::kLost, AttemptOutcome::kTimedOut}) {
    TaskRecord r = Task("a", 1, 1, TaskState::kRunning);
    AttemptRecord attempt;
    attempt.number = 1;
    attempt.outcome = outcome;
    r.attempts.push_back(attempt);
    ASSERT_OK_AND_ASSIGN(TaskRecord decoded, RoundTrip(r));
    ASSERT_EQ(decoded.attempts.size(), 1u);
    EXPECT_EQ(decoded.attempts[0].outcome, outcome) << static_cast<int>(outcome);
  }
  for (WorkflowState state : {WorkflowState::kRunning, WorkflowState::kSucceeded,
                              WorkflowState::kFailed, WorkflowState::kCancelled}) {
    ASSERT_OK_AND_ASSIGN(WorkflowRecord decoded,
                         DecodeWorkflow(EncodeWorkflow(Workflow("w", 1, 1, state))));
    EXPECT_EQ(decoded.state, state) << static_cast<int>(state);
  }
}

TEST(RecordCodecTest, StoresStatesUnderStableNumbers) {
  // These numbers are in every store file written so far: they never change.
  EXPECT_EQ(StoredTaskStateNumber(TaskState::kPending), 1);
  EXPECT_EQ(StoredTaskStateNumber(TaskState::kQueued), 3);
  EXPECT_EQ(StoredTaskStateNumber(TaskState::kRunning), 4);
  EXPECT_EQ(StoredTaskStateNumber(TaskState::kExpired), 8);
  EXPECT_EQ(StoredWorkflowStateNumber(WorkflowState::kRunning), 1);
  EXPECT_EQ(StoredWorkflowStateNumber(WorkflowState::kCancelled), 4);
}

TEST(RecordCodecTest, RejectsBytesThatDoNotParseAsDataLoss) {
  const std::string spec = EncodeTaskSpec(*Task("a", 1, 1, TaskState::kQueued).spec);
  EXPECT_THAT(DecodeTask("\xff\xff\xff garbage", spec), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(DecodeWorkflow("\x0a\x10short"), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(RecordCodecTest, RejectsAnUnknownStateAsDataLoss) {
  store::v1::StoredTask t;
  t.set_id("future");
  t.set_state(static_cast<store::v1::StoredTaskState>(42));
  const std::string spec = EncodeTaskSpec(*Task("a", 1, 1, TaskState::kQueued).spec);
  EXPECT_THAT(DecodeTask(t.SerializeAsString(), spec),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("future")));

  store::v1::StoredTask unset;  // a state of 0 is never written
  unset.set_id("zero");
  EXPECT_THAT(DecodeTask(unset.SerializeAsString(), spec), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace taskwire::scheduler
