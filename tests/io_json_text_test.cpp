// parse_json (io/json_text.h), the parser behind every JSON reader: the
// nesting limit (exactly 512 levels pass, 513 fail at the right byte,
// brackets inside strings do not count), numbers beyond a double, syntax
// errors with nlohmann's position, and line/column for multi-line files.
#include <gtest/gtest.h>

#include "io/json_text.h"
#include "io/jsonl.h"

namespace mds {
namespace {

std::string nested(int n) { return std::string(n, '[') + std::string(n, ']'); }

TEST(JsonText, ParsesValuesLikeNlohmann) {
  const std::string text = R"({"b":[1,-2,3.5,true,null,"x\"]"],"a":{"c":{}},"b2":18446744073709551615})";
  nlohmann::json j;
  ASSERT_TRUE(parse_json(text, j, nullptr));
  EXPECT_EQ(j, nlohmann::json::parse(text));
  nlohmann::ordered_json o;
  ASSERT_TRUE(parse_json(text, o, nullptr));
  EXPECT_EQ(o.dump(), nlohmann::ordered_json::parse(text).dump());  // key order kept
  ASSERT_TRUE(parse_json(R"({"k":1,"k":2})", j, nullptr));
  EXPECT_EQ(j["k"], 2);  // the last duplicate wins, as in nlohmann::json::parse
  ASSERT_TRUE(parse_json("  7 ", j, nullptr));
  EXPECT_EQ(j, 7);
}

TEST(JsonText, DepthLimitIsExactAndPositioned) {
  nlohmann::json j;
  JsonParseError e;
  ASSERT_TRUE(parse_json(nested(kMaxJsonDepth), j, &e));
  ASSERT_FALSE(parse_json(nested(kMaxJsonDepth + 1), j, &e));
  EXPECT_EQ(e.kind, JsonParseError::Kind::too_deep);
  EXPECT_EQ(e.byte, static_cast<size_t>(kMaxJsonDepth + 1));
  EXPECT_TRUE(j.is_null());  // no partial value is left behind
  // Objects count as levels too; brackets inside strings do not.
  std::string opens = R"({"s":"[[{{\"[","a":)", closes = "}";
  for (int level = 2; level <= kMaxJsonDepth; ++level) {
    opens += level % 2 ? "[" : R"({"k":)";
    closes.insert(0, level % 2 ? "]" : "}");
  }
  ASSERT_TRUE(parse_json(opens + "0" + closes, j, &e)) << e.detail;
  ASSERT_FALSE(parse_json(opens + "[0]" + closes, j, &e));
  EXPECT_EQ(e.kind, JsonParseError::Kind::too_deep);
  EXPECT_EQ(e.byte, opens.size() + 1);
  EXPECT_EQ(e.describe("at byte 9"),
            "JSON nested too deeply at byte 9: expected at most 512 levels of arrays and objects");
  // 100,000 levels: refused, not a crash.
  ASSERT_FALSE(parse_json("{\"x\":" + nested(100000) + "}", j, &e));
  EXPECT_EQ(e.kind, JsonParseError::Kind::too_deep);
  EXPECT_EQ(e.byte, 6u + 511u);
}

TEST(JsonText, NumbersBeyondADoubleAreRefusedAtTheirFirstByte) {
  nlohmann::json j;
  JsonParseError e;
  ASSERT_FALSE(parse_json(R"({"a": [1, -1e999]})", j, &e));
  EXPECT_EQ(e.kind, JsonParseError::Kind::number_out_of_range);
  EXPECT_EQ(e.byte, 11u);
  EXPECT_EQ(e.detail, "-1e999");
  EXPECT_EQ(e.describe("at byte 11"),
            "number out of range at byte 11: expected a finite number within about +-1.8e308, found -1e999");
  ASSERT_FALSE(parse_json(std::string(400, '9'), j, &e));  // an integer too long for any type
  EXPECT_EQ(e.kind, JsonParseError::Kind::number_out_of_range);
  EXPECT_EQ(e.byte, 1u);
  EXPECT_EQ(e.detail.size(), 40u);  // shortened for the message
  ASSERT_TRUE(parse_json("1e-999", j, &e));  // underflow is just 0
  EXPECT_EQ(j.get<double>(), 0.0);
}

TEST(JsonText, SyntaxErrorsKeepNlohmannsPosition) {
  nlohmann::json j;
  JsonParseError e;
  ASSERT_FALSE(parse_json("{\"a\":\n tru}", j, &e));
  EXPECT_EQ(e.kind, JsonParseError::Kind::syntax);
  EXPECT_EQ(e.byte, 11u);
  EXPECT_NE(e.detail.find("parse error at line 2, column 5"), std::string::npos) << e.detail;
  ASSERT_FALSE(parse_json("{} x", j, &e));  // one value only
  EXPECT_EQ(e.kind, JsonParseError::Kind::syntax);
  ASSERT_FALSE(parse_json("", j, &e));
  EXPECT_EQ(e.kind, JsonParseError::Kind::syntax);
  EXPECT_EQ(jsonl_parse_message(e).rfind("malformed JSON at byte 1: expected one JSON object per line (", 0), 0u)
      << jsonl_parse_message(e);
}

TEST(JsonText, LineAndColumn) {
  EXPECT_EQ(line_and_column("abc", 1), "line 1, column 1");
  EXPECT_EQ(line_and_column("abc", 3), "line 1, column 3");
  EXPECT_EQ(line_and_column("ab\ncd\nef", 4), "line 2, column 1");
  EXPECT_EQ(line_and_column("ab\ncd\nef", 8), "line 3, column 2");
}

}  // namespace
}  // namespace mds
