// OneWriteInFlight: the write side of a gRPC callback stream, which allows one write in
// flight (GRPC-LIMITS.md, trap 1). It decides when the owner may start a write and when it
// may end the stream; the owner keeps its queue, its batching and its mutex.
//
// Every method is called with the owner's mutex held: declare the member
// ABSL_GUARDED_BY(that mutex), and clang's -Wthread-safety checks the callers. It calls
// back, with that mutex held (so they may begin with mu.AssertHeld()):
//   bool owner.FillNext()   fills the next message from what is queued; false if nothing is
//   void owner.WriteNext()  StartWrite of the message FillNext just filled
//   void owner.EndStream()  Finish(status) on a server, StartWritesDone on a client; at most
//                           once, with no write in flight, never after Stop()
// What piles up during a write goes out in the next one, so a batch forms under load.
#ifndef TASKWIRE_COMMON_ONE_WRITE_IN_FLIGHT_H_
#define TASKWIRE_COMMON_ONE_WRITE_IN_FLIGHT_H_

namespace taskwire {

// What waits for OneWriteInFlight::Open(). kHoldWrites: the writes, not the end (nothing
// is in flight, so a stream refused before it opens ends at once). kHoldAll: the end too (an
// operation, the headers, is in flight and the end must not start under it).
enum class WriteGate { kOpen, kHoldWrites, kHoldAll };

template <typename Owner>
class OneWriteInFlight {
 public:
  explicit OneWriteInFlight(Owner& owner, WriteGate gate = WriteGate::kOpen)
      : owner_(owner), gate_(gate), open_(gate == WriteGate::kOpen) {}
  OneWriteInFlight(const OneWriteInFlight&) = delete;
  OneWriteInFlight& operator=(const OneWriteInFlight&) = delete;

  // Writes may start.
  void Open() {
    open_ = true;
    Pump();
  }

  // Something was queued: it goes out now if the stream is free, else after the write in
  // flight.
  void Kick() { Pump(); }

  // From OnWriteDone. A failed write ends the stream at once, dropping what is queued.
  void WriteDone(bool ok) {
    writing_ = false;
    if (!ok) {
      ending_ = true;
      flush_ = false;
    }
    Pump();
  }

  // Ends the stream after the write in flight; what is still queued is dropped.
  void End() {
    ending_ = true;
    flush_ = false;
    Pump();
  }

  // Ends the stream once everything queued has been written.
  void EndWhenFlushed() {
    if (!ending_) {
      ending_ = true;
      flush_ = true;
    }
    Pump();
  }

  // No write and no end may start any more: the reactor is gone (OnDone), or, on a client,
  // the call can end (a read or a write failed).
  void Stop() { stopped_ = true; }

  // Whether something queued now could still go out.
  bool accepting() const { return !ending_ && !stopped_; }
  bool open() const { return open_; }
  bool writing() const { return writing_; }
  bool ending() const { return ending_; }
  bool finished() const { return finished_; }

 private:
  void Pump() {
    if (writing_ || stopped_ || finished_) return;
    if (!open_) {
      if (ending_ && gate_ == WriteGate::kHoldWrites) Finish();
      return;
    }
    if ((!ending_ || flush_) && owner_.FillNext()) {
      writing_ = true;
      owner_.WriteNext();
      return;
    }
    if (ending_) Finish();
  }

  void Finish() {
    finished_ = true;
    owner_.EndStream();
  }

  Owner& owner_;
  const WriteGate gate_;
  bool open_;
  bool writing_ = false;
  bool ending_ = false;
  bool flush_ = false;  // the end waits for the queue to empty
  bool finished_ = false;
  bool stopped_ = false;
};

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_ONE_WRITE_IN_FLIGHT_H_
