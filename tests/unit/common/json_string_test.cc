// The one JSON string escaper: what it turns into escapes, and that bytes that are not
// UTF-8 still give valid JSON.
#include "common/json_string.h"

#include <string>

#include "gtest/gtest.h"

namespace taskwire {
namespace {

TEST(JsonStringTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonString("say \"hi\"\\\n\r\t\x01\x7f"),
            R"("say \"hi\"\\\n\r\t\u0001\u007f")");
  EXPECT_EQ(JsonString(""), R"("")");
}

TEST(JsonStringTest, KeepsValidUtf8AndEscapesEveryOtherByte) {
  EXPECT_EQ(JsonString("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // A lone continuation byte, a truncated sequence, an overlong form and a surrogate.
  EXPECT_EQ(JsonString(std::string("\x80|\xc3|\xc0\xaf|\xed\xa0\x80", 10)),
            R"("\u0080|\u00c3|\u00c0\u00af|\u00ed\u00a0\u0080")");
}

TEST(JsonStringTest, EscapedLeavesOutTheQuotes) {
  std::string out = "msg=";
  AppendJsonEscaped("a\"b", &out);
  EXPECT_EQ(out, R"(msg=a\"b)");
}

}  // namespace
}  // namespace taskwire
