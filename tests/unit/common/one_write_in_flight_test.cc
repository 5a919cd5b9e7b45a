// OneWriteInFlight, driven by a fake stream that records its writes and its end: one write
// at a time, what is queued during a write goes out in the next, the end waits for the
// write in flight, a failed write ends the stream, nothing starts after the end or Stop,
// and the gate holds writes (and, with kHoldAll, the end) until Open.
#include "common/one_write_in_flight.h"

#include <algorithm>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Batch = std::vector<int>;

// The owner: a queue of ints, at most `max_batch` per message.
class FakeStream {
 public:
  explicit FakeStream(WriteGate gate = WriteGate::kOpen, size_t max_batch = 100)
      : max_batch_(max_batch), writer_(*this, gate) {}

  void Queue(int item) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(item);
    writer_.Kick();
  }
  // OnWriteDone: the write in flight has completed.
  void WriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    writer_.WriteDone(ok);
  }
  void End() {
    absl::MutexLock lock(&mu_);
    writer_.End();
  }
  void EndWhenFlushed() {
    absl::MutexLock lock(&mu_);
    writer_.EndWhenFlushed();
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    writer_.Open();
  }
  void Stop() {
    absl::MutexLock lock(&mu_);
    writer_.Stop();
  }
  bool accepting() {
    absl::MutexLock lock(&mu_);
    return writer_.accepting();
  }
  bool writing() {
    absl::MutexLock lock(&mu_);
    return writer_.writing();
  }
  std::vector<Batch> writes() {
    absl::MutexLock lock(&mu_);
    return writes_;
  }
  int ends() {
    absl::MutexLock lock(&mu_);
    return ends_;
  }

 private:
  friend class OneWriteInFlight<FakeStream>;

  bool FillNext() {
    mu_.AssertHeld();
    if (queue_.empty()) return false;
    EXPECT_FALSE(in_flight_) << "filled a message while one is in flight";
    const size_t n = std::min(queue_.size(), max_batch_);
    message_.assign(queue_.begin(), queue_.begin() + n);
    queue_.erase(queue_.begin(), queue_.begin() + n);
    return true;
  }
  void WriteNext() {
    mu_.AssertHeld();
    EXPECT_FALSE(in_flight_) << "a second write started";
    EXPECT_EQ(ends_, 0) << "a write after the end";
    in_flight_ = true;
    writes_.push_back(message_);
  }
  void EndStream() {
    mu_.AssertHeld();
    EXPECT_FALSE(in_flight_) << "ended under a write";
    ++ends_;
  }

  const size_t max_batch_;
  absl::Mutex mu_;
  Batch queue_ ABSL_GUARDED_BY(mu_);
  Batch message_ ABSL_GUARDED_BY(mu_);
  std::vector<Batch> writes_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  int ends_ ABSL_GUARDED_BY(mu_) = 0;
  OneWriteInFlight<FakeStream> writer_ ABSL_GUARDED_BY(mu_);
};

TEST(OneWriteInFlightTest, WritesAtOnceWhenFree) {
  FakeStream s;
  s.Queue(1);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}));
  EXPECT_TRUE(s.writing());
}

TEST(OneWriteInFlightTest, OneWriteAtATimeAndWhatPilesUpGoesInTheNext) {
  FakeStream s;
  s.Queue(1);
  s.Queue(2);
  s.Queue(3);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}));
  s.WriteDone(true);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}, Batch{2, 3}));
  s.WriteDone(true);
  EXPECT_FALSE(s.writing());  // nothing queued: nothing written
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}, Batch{2, 3}));
  s.Queue(4);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}, Batch{2, 3}, Batch{4}));
}

TEST(OneWriteInFlightTest, TheOwnerBatchesAndTheRestFollows) {
  FakeStream s(WriteGate::kOpen, /*max_batch=*/2);
  s.Queue(1);
  for (int i = 2; i <= 6; ++i) s.Queue(i);
  s.WriteDone(true);
  s.WriteDone(true);
  s.WriteDone(true);
  s.WriteDone(true);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}, Batch{2, 3}, Batch{4, 5}, Batch{6}));
  EXPECT_FALSE(s.writing());
}

TEST(OneWriteInFlightTest, EndWaitsForTheWriteInFlightAndDropsTheQueue) {
  FakeStream s;
  s.Queue(1);
  s.Queue(2);
  s.End();
  EXPECT_EQ(s.ends(), 0);
  EXPECT_FALSE(s.accepting());
  s.WriteDone(true);
  EXPECT_EQ(s.ends(), 1);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}));
}

TEST(OneWriteInFlightTest, EndWithNoWriteInFlightEndsAtOnce) {
  FakeStream s;
  s.End();
  EXPECT_EQ(s.ends(), 1);
}

TEST(OneWriteInFlightTest, EndWhenFlushedWritesEverythingFirst) {
  FakeStream s(WriteGate::kOpen, /*max_batch=*/1);
  s.Queue(1);
  s.Queue(2);
  s.Queue(3);
  s.EndWhenFlushed();
  EXPECT_FALSE(s.accepting());
  s.WriteDone(true);
  EXPECT_EQ(s.ends(), 0);
  s.WriteDone(true);
  EXPECT_EQ(s.ends(), 0);
  s.WriteDone(true);
  EXPECT_EQ(s.ends(), 1);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}, Batch{2}, Batch{3}));
}

TEST(OneWriteInFlightTest, EndOverridesEndWhenFlushed) {
  FakeStream s;
  s.Queue(1);
  s.Queue(2);
  s.EndWhenFlushed();
  s.End();
  s.WriteDone(true);
  EXPECT_EQ(s.ends(), 1);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}));
}

TEST(OneWriteInFlightTest, AFailedWriteEndsTheStream) {
  FakeStream s;
  s.Queue(1);
  s.Queue(2);
  s.WriteDone(false);
  EXPECT_EQ(s.ends(), 1);
  EXPECT_FALSE(s.accepting());
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}));
}

TEST(OneWriteInFlightTest, AFailedWriteEndsEvenAFlushingStreamAtOnce) {
  FakeStream s;
  s.Queue(1);
  s.Queue(2);
  s.EndWhenFlushed();
  s.WriteDone(false);
  EXPECT_EQ(s.ends(), 1);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}));
}

TEST(OneWriteInFlightTest, NothingStartsAfterTheEnd) {
  FakeStream s;
  s.End();
  s.Queue(1);  // an owner checks accepting(); the writer holds even if it does not
  s.End();
  s.EndWhenFlushed();
  s.Open();
  EXPECT_EQ(s.ends(), 1);
  EXPECT_THAT(s.writes(), IsEmpty());
}

TEST(OneWriteInFlightTest, NothingStartsAfterStop) {
  FakeStream s;
  s.Queue(1);
  s.Queue(2);
  s.Stop();  // the reactor is gone
  EXPECT_FALSE(s.accepting());
  s.WriteDone(true);
  s.End();
  s.WriteDone(false);
  EXPECT_EQ(s.ends(), 0);
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1}));
}

TEST(OneWriteInFlightTest, HoldWritesGateHoldsWritesUntilOpen) {
  FakeStream s(WriteGate::kHoldWrites);
  s.Queue(1);
  s.Queue(2);
  EXPECT_THAT(s.writes(), IsEmpty());
  s.Open();
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1, 2}));
}

TEST(OneWriteInFlightTest, HoldWritesGateLetsAnEndThroughAtOnce) {
  FakeStream s(WriteGate::kHoldWrites);
  s.Queue(1);
  s.End();  // e.g. a refused Hello: no Welcome will ever open the stream
  EXPECT_EQ(s.ends(), 1);
  s.Open();
  EXPECT_THAT(s.writes(), IsEmpty());
  EXPECT_EQ(s.ends(), 1);
}

TEST(OneWriteInFlightTest, HoldAllGateHoldsTheEndUntilOpen) {
  FakeStream s(WriteGate::kHoldAll);
  s.Queue(1);
  s.End();  // the headers are still in flight
  EXPECT_EQ(s.ends(), 0);
  s.Open();
  EXPECT_EQ(s.ends(), 1);
  EXPECT_THAT(s.writes(), IsEmpty());
}

TEST(OneWriteInFlightTest, HoldAllGateWritesTheBacklogOnOpen) {
  FakeStream s(WriteGate::kHoldAll);
  s.Queue(1);
  s.Queue(2);
  EXPECT_THAT(s.writes(), IsEmpty());
  s.Open();
  EXPECT_THAT(s.writes(), ElementsAre(Batch{1, 2}));
  s.End();
  EXPECT_EQ(s.ends(), 0);
  s.WriteDone(true);
  EXPECT_EQ(s.ends(), 1);
}

TEST(OneWriteInFlightTest, StopBeforeOpenHoldsEverything) {
  FakeStream s(WriteGate::kHoldAll);
  s.Queue(1);
  s.End();
  s.Stop();
  s.Open();
  EXPECT_EQ(s.ends(), 0);
  EXPECT_THAT(s.writes(), IsEmpty());
}

}  // namespace
}  // namespace taskwire
