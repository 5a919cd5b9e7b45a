// Early-return helpers for absl::Status, as Abseil's newer releases have them.
#ifndef TASKWIRE_COMMON_STATUS_MACROS_H_
#define TASKWIRE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TW_RETURN_IF_ERROR(expr)               \
  do {                                         \
    if (::absl::Status tw_status_ = (expr);    \
        !tw_status_.ok()) {                    \
      return tw_status_;                       \
    }                                          \
  } while (false)

#define TW_CONCAT_INNER_(a, b) a##b
#define TW_CONCAT_(a, b) TW_CONCAT_INNER_(a, b)
#define TW_ASSIGN_OR_RETURN(lhs, expr) \
  TW_ASSIGN_OR_RETURN_IMPL_(TW_CONCAT_(tw_statusor_, __LINE__), lhs, expr)
#define TW_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                              \
  if (!var.ok()) return var.status();             \
  lhs = std::move(var).value()

#endif  // TASKWIRE_COMMON_STATUS_MACROS_H_
