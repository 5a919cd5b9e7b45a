#include "scheduler/auth/access_table.h"

#include "common/credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {
namespace {

using ::testing::HasSubstr;

std::string Hash(const std::string& token) { return Sha256Hex(token); }

TEST(AccessTableTest, FindsPrincipalsByTokenAndByCertificateSubject) {
  const std::string text = absl::StrCat(
      "# comment\n"
      "entry { name: \"alice\" role: ROLE_SUBMITTER token_sha256: \"", Hash("a-token"), "\" }\n",
      "entry { name: \"ops\" role: ROLE_ADMIN token_sha256: \"",
      absl::AsciiStrToUpper(Hash("o-token")), "\" }\n",
      "entry { name: \"exec-1\" role: ROLE_EXECUTOR client_cert_subject: \"CN=exec-1,O=acme\"\n"
      "        queues: \"images\" task_types: \"resize\" }\n");
  absl::StatusOr<AccessTable> table = AccessTable::Parse(text, "access.textproto");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3u);
  ASSERT_NE(table->ByToken("a-token"), nullptr);
  EXPECT_EQ(table->ByToken("a-token")->name, "alice");
  EXPECT_EQ(table->ByToken("a-token")->role, Role::kSubmitter);
  ASSERT_NE(table->ByToken("o-token"), nullptr);  // upper-case hex is accepted
  EXPECT_EQ(table->ByToken("o-token")->role, Role::kAdmin);
  EXPECT_EQ(table->ByToken("a-token "), nullptr);
  EXPECT_EQ(table->ByToken(""), nullptr);
  const Principal* exec = table->ByCertificateSubject("CN=exec-1,O=acme");
  ASSERT_NE(exec, nullptr);
  EXPECT_TRUE(exec->MayServeQueue("images"));
  EXPECT_FALSE(exec->MayServeQueue("payments"));
  EXPECT_TRUE(exec->MayServeType("resize"));
  EXPECT_FALSE(exec->MayServeType("charge"));
  EXPECT_EQ(table->ByCertificateSubject("CN=exec-1"), nullptr);
}

TEST(AccessTableTest, AStarQueueAndNoTypesMeanAny) {
  absl::StatusOr<AccessTable> table = AccessTable::Parse(
      "entry { name: \"e\" role: ROLE_EXECUTOR client_cert_subject: \"CN=e\" queues: \"*\" }",
      "f");
  ASSERT_TRUE(table.ok()) << table.status();
  const Principal* e = table->ByCertificateSubject("CN=e");
  EXPECT_TRUE(e->MayServeQueue("anything"));
  EXPECT_TRUE(e->MayServeType("anything"));
}

TEST(AccessTableTest, AnEmptyFileHasNoEntries) {
  absl::StatusOr<AccessTable> table = AccessTable::Parse("", "f");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->size(), 0u);
  EXPECT_EQ(table->ByToken("x"), nullptr);
}

TEST(AccessTableTest, RejectsWhatWouldBeAmbiguousOrUnsafe) {
  const std::string h = Hash("t");
  const std::string h2 = Hash("u");
  const std::pair<std::string, std::string> cases[] = {
      {"entry { name: \"a\" role: ROLE_SUBMITTER token_sha256: \"abc\" }", "64 hex digits"},
      {"entry { name: \"a\" role: ROLE_SUBMITTER }", "exactly one of"},
      {absl::StrCat("entry { name: \"a\" role: ROLE_SUBMITTER token_sha256: \"", h,
                    "\" client_cert_subject: \"CN=a\" }"),
       "exactly one of"},
      {absl::StrCat("entry { name: \"a\" token_sha256: \"", h, "\" }"), "role must be"},
      {absl::StrCat("entry { name: \"\" role: ROLE_ADMIN token_sha256: \"", h, "\" }"),
       "name must be"},
      {absl::StrCat("entry { name: \"a b\" role: ROLE_ADMIN token_sha256: \"", h, "\" }"),
       "name must be"},
      {absl::StrCat("entry { name: \"a\" role: ROLE_ADMIN token_sha256: \"", h, "\" }",
                    "entry { name: \"a\" role: ROLE_ADMIN token_sha256: \"", h2, "\" }"),
       "name is used"},
      {absl::StrCat("entry { name: \"a\" role: ROLE_ADMIN token_sha256: \"", h, "\" }",
                    "entry { name: \"b\" role: ROLE_ADMIN token_sha256: \"", h, "\" }"),
       "token_sha256 is used"},
      {absl::StrCat("entry { name: \"a\" role: ROLE_EXECUTOR token_sha256: \"", h, "\" }"),
       "must list its queues"},
      {absl::StrCat("entry { name: \"a\" role: ROLE_SUBMITTER token_sha256: \"", h,
                    "\" queues: \"q\" }"),
       "executor entries only"},
      {"entry { name: \"a\" role: ROLE_ADMIN token: \"plaintext\" }", "line 1"},
      {"entry {", "line 1"},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<AccessTable> table = AccessTable::Parse(text, "access.textproto");
    ASSERT_FALSE(table.ok()) << text;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(table.status().message(), HasSubstr(expected)) << text;
    EXPECT_THAT(table.status().message(), HasSubstr("access.textproto")) << text;
  }
}

TEST(OwnedKeyTest, ScopesAKeyToItsOwnerAndGivesItBack) {
  EXPECT_EQ(OwnedKey("", "k"), "k");
  EXPECT_EQ(OwnedKey("alice", ""), "");
  EXPECT_NE(OwnedKey("alice", "k"), OwnedKey("bob", "k"));
  EXPECT_EQ(KeyAsSubmitted("alice", OwnedKey("alice", "k")), "k");
  EXPECT_EQ(KeyAsSubmitted("", "k"), "k");
  EXPECT_EQ(KeyAsSubmitted("alice", "k"), "k");  // stored before the owner existed
}

}  // namespace
}  // namespace taskwire::scheduler
