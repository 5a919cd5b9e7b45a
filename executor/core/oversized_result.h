// The rule for a result too large for the link: a gRPC message larger than the link's
// limit (--max-message-bytes) breaks the stream, and a result re-sent after every
// reconnect would break it for ever, losing every other attempt each time. So a result
// whose encoding would not fit in one message (the limit less kEnvelopeHeadroom, kept for
// the ExecutorMessage around it) is never sent as is: it becomes a FAILED result of the
// same attempt whose output is dropped, whose error says why, and which keeps the run
// time, exit code, signal and retry mark of the original.
#ifndef TASKWIRE_EXECUTOR_CORE_OVERSIZED_RESULT_H_
#define TASKWIRE_EXECUTOR_CORE_OVERSIZED_RESULT_H_

#include <cstddef>

#include "executor/link_interface.h"

namespace taskwire::executor {

inline constexpr size_t kEnvelopeHeadroom = 64 << 10;

// An upper bound (within a few dozen bytes) of the report's AttemptResult encoding.
size_t EncodedSizeBound(const AttemptReport& report);

// Applies the rule above to `report` for a link whose messages carry at most
// `max_message_bytes`. Returns true if it replaced the result.
bool FailIfOversized(AttemptReport& report, size_t max_message_bytes);

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_CORE_OVERSIZED_RESULT_H_
