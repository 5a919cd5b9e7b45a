// HandlerRegistry: registration by name, lookup, and the names it refuses.
#include "executor/handler_registry.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::executor {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::IsNull;
using ::testing::NotNull;

Handler Returning(std::string out) {
  return [out](const TaskContext&) -> absl::StatusOr<std::string> { return out; };
}

TEST(HandlerRegistryTest, FindsARegisteredHandler) {
  HandlerRegistry registry;
  ASSERT_THAT(registry.Register("greet", Returning("hi")), IsOk());
  const Handler* handler = registry.Find("greet");
  ASSERT_THAT(handler, NotNull());
  CancelToken token;
  EXPECT_EQ((*handler)(TaskContext{"t1", 1, "greet", "", &token, {}}).value(), "hi");
}

TEST(HandlerRegistryTest, FindReturnsNullForAnUnknownType) {
  HandlerRegistry registry;
  ASSERT_THAT(registry.Register("greet", Returning("hi")), IsOk());
  EXPECT_THAT(registry.Find("Greet"), IsNull());
  EXPECT_THAT(registry.Find(""), IsNull());
}

TEST(HandlerRegistryTest, RejectsADuplicateNameWithAlreadyExistsAndKeepsTheFirst) {
  HandlerRegistry registry;
  ASSERT_THAT(registry.Register("greet", Returning("first")), IsOk());
  EXPECT_THAT(registry.Register("greet", Returning("second")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'greet'")));
  CancelToken token;
  EXPECT_EQ((*registry.Find("greet"))(TaskContext{"t1", 1, "greet", "", &token, {}}).value(), "first");
}

TEST(HandlerRegistryTest, RejectsAnEmptyName) {
  HandlerRegistry registry;
  EXPECT_THAT(registry.Register("", Returning("x")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..128")));
  EXPECT_THAT(registry.Types(), IsEmpty());
}

TEST(HandlerRegistryTest, AcceptsA128CharacterNameAndRejectsA129CharacterOne) {
  HandlerRegistry registry;
  EXPECT_THAT(registry.Register(std::string(128, 'a'), Returning("x")), IsOk());
  EXPECT_THAT(registry.Register(std::string(129, 'b'), Returning("x")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(HandlerRegistryTest, RejectsNamesWithCharactersOutsideTheAllowedSet) {
  HandlerRegistry registry;
  for (const std::string& name : std::vector<std::string>{
           "has space", "a/b", "tab\t", "q?", "caf\xc3\xa9", std::string("nul\0x", 5)}) {
    EXPECT_THAT(registry.Register(name, Returning("x")),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << "name: " << name;
  }
  EXPECT_THAT(registry.Types(), IsEmpty());
}

TEST(HandlerRegistryTest, AcceptsLettersDigitsAndUnderscoreDotColonDash) {
  HandlerRegistry registry;
  EXPECT_THAT(registry.Register("Image_resize.v2:fast-9", Returning("x")), IsOk());
}

TEST(HandlerRegistryTest, ListsTypesSorted) {
  HandlerRegistry registry;
  for (const char* name : {"sha256", "echo", "http.get", "Zed", "fail"}) {
    ASSERT_THAT(registry.Register(name, Returning(name)), IsOk());
  }
  EXPECT_THAT(registry.Types(), ElementsAre("Zed", "echo", "fail", "http.get", "sha256"));
}

}  // namespace
}  // namespace taskwire::executor
