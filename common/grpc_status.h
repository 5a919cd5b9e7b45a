// Conversions at the gRPC boundary: absl::Status <-> grpc::Status, absl time <-> protobuf.
// Only adapters include this; cores speak absl types.
#ifndef TASKWIRE_COMMON_GRPC_STATUS_H_
#define TASKWIRE_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/quote.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/support/status.h"

namespace taskwire {

// Messages longer than kMaxStatusMessageBytes are cut: the message travels as metadata.
inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  absl::string_view message = s.message();
  std::string text = message.size() <= kMaxStatusMessageBytes
                         ? std::string(message)
                         : absl::StrCat(message.substr(0, kMaxStatusMessageBytes), "... (cut)");
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::move(text));
}

inline absl::Status ToAbslStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

inline void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

inline absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

inline void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

inline absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_GRPC_STATUS_H_
