// GoogleTest matchers for absl::Status and absl::StatusOr<T>, with the names newer Abseil
// releases ship in absl_testing (Debian's Abseil 20220623 has none):
//
//   EXPECT_THAT(core.CancelTask(id), IsOk());
//   EXPECT_THAT(core.Submit({}), StatusIs(absl::StatusCode::kInvalidArgument,
//                                         HasSubstr("tasks is empty")));
//   EXPECT_THAT(core.CancelTask(id), IsOkAndHolds(TaskState::kCancelled));
//   ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids, core.Submit(specs));
#ifndef TASKWIRE_TESTS_UNIT_STATUS_MATCHERS_H_
#define TASKWIRE_TESTS_UNIT_STATUS_MATCHERS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }

template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.ok();
}

MATCHER_P(StatusIs, code,
          std::string(negation ? "has a code other than " : "has code ") +
              absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           std::string(negation ? "does not have code " : "has code ") +
               absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher, negation)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

MATCHER_P(IsOkAndHolds, value_matcher,
          negation ? "is not OK or holds another value" : "is OK and holds the expected value") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace taskwire::testing

#define TW_TEST_CONCAT_INNER_(a, b) a##b
#define TW_TEST_CONCAT_(a, b) TW_TEST_CONCAT_INNER_(a, b)

// Asserts that `expr` (an absl::StatusOr) is OK and moves its value into `lhs`, which may
// be a declaration.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(TW_TEST_CONCAT_(tw_status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(var, lhs, expr) \
  auto var = (expr);                               \
  ASSERT_TRUE(var.ok()) << var.status();           \
  lhs = std::move(var).value()

#endif  // TASKWIRE_TESTS_UNIT_STATUS_MATCHERS_H_
