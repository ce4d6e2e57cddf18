// Tests of the pre-tokenization rule (docs/tokenizer.md): exact splits for
// each clause, the length cap, and lossless splitting of arbitrary bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "text/pretokenizer.h"

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  mds::for_each_pretoken(s, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

using V = std::vector<std::string>;

TEST(Pretokenizer, WordsTakeOneLeadingSpace) {
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("a  b"), (V{"a", " ", " b"}));
  EXPECT_EQ(split("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split(" lead"), (V{" lead"}));
}

TEST(Pretokenizer, DigitsLettersAndPunctuationAreSeparateRuns) {
  EXPECT_EQ(split("abc123def"), (V{"abc", "123", "def"}));
  EXPECT_EQ(split("p < 0.001"), (V{"p", " <", " 0", ".", "001"}));
  EXPECT_EQ(split("Hi!!! ok"), (V{"Hi", "!!!", " ok"}));
  EXPECT_EQ(split("f(x)=y;"), (V{"f", "(", "x", ")=", "y", ";"}));
  EXPECT_EQ(split("[PAD]"), (V{"[", "PAD", "]"}));
}

TEST(Pretokenizer, Contractions) {
  EXPECT_EQ(split("don't"), (V{"don", "'t"}));
  EXPECT_EQ(split("we're they've I'll he'd it's I'm"),
            (V{"we", "'re", " they", "'ve", " I", "'ll", " he", "'d", " it", "'s", " I", "'m"}));
  EXPECT_EQ(split("'sa"), (V{"'s", "a"}));
  EXPECT_EQ(split(" 's"), (V{" '", "s"}));
  EXPECT_EQ(split("IT'S"), (V{"IT", "'", "S"}));  // lower case only, as GPT-2
}

TEST(Pretokenizer, WhitespaceRuns) {
  EXPECT_EQ(split("x\n\ny"), (V{"x", "\n\n", "y"}));
  EXPECT_EQ(split("x \n y"), (V{"x", " \n", " y"}));
  EXPECT_EQ(split("x\t y"), (V{"x", "\t", " y"}));
  EXPECT_EQ(split("end  "), (V{"end", "  "}));
  EXPECT_EQ(split("end "), (V{"end", " "}));
  EXPECT_EQ(split("    return x"), (V{"   ", " return", " x"}));
}

TEST(Pretokenizer, NonAscii) {
  EXPECT_EQ(split("na\xC3\xAFve caf\xC3\xA9"), (V{"na\xC3\xAFve", " caf\xC3\xA9"}));
  EXPECT_EQ(split("\xE6\x9D\xB1\xE4\xBA\xAC"), (V{"\xE6\x9D\xB1\xE4\xBA\xAC"}));  // CJK letters stay together
  // Em dash (U+2014) and non-breaking space (U+00A0) are symbols, not letters or spaces.
  EXPECT_EQ(split("a\xE2\x80\x94" "b"), (V{"a", "\xE2\x80\x94", "b"}));
  EXPECT_EQ(split("1\xC2\xA0kg"), (V{"1", "\xC2\xA0", "kg"}));
  // Emoji are symbols.
  EXPECT_EQ(split("hi \xF0\x9F\x98\x80!"), (V{"hi", " \xF0\x9F\x98\x80!"}));
}

TEST(Pretokenizer, InvalidUtf8AndControlBytesAreSymbols) {
  const std::string s("a\xFF\xFE" "b\x00\x01 c\xC3(", 10);
  EXPECT_EQ(split(s), (V{"a", "\xFF\xFE", "b", std::string("\x00\x01", 2), " c", "\xC3("}));
  // A truncated multi-byte sequence at the end of the input.
  EXPECT_EQ(split("ab\xE6\x9D"), (V{"ab", "\xE6\x9D"}));
  // A surrogate (ED A0 80) is not well-formed UTF-8.
  EXPECT_EQ(split("x\xED\xA0\x80"), (V{"x", "\xED\xA0\x80"}));
}

TEST(Pretokenizer, LongRunsAreCutAtTheCap) {
  const std::string run(1000, 'a');
  auto parts = split(run);
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].size(), mds::kMaxPretokenBytes);
  EXPECT_EQ(parts[3].size(), 1000 - 3 * mds::kMaxPretokenBytes);
  // Multi-byte characters are never split by the cap.
  std::string cjk;
  for (int i = 0; i < 200; ++i) cjk += "\xE6\x9D\xB1";
  for (const auto& p : split(cjk)) {
    EXPECT_LE(p.size(), mds::kMaxPretokenBytes);
    EXPECT_EQ(p.size() % 3, 0u);
  }
  EXPECT_EQ(split(std::string(600, ' ')).size(), 3u);
}

TEST(Pretokenizer, ArbitraryBytesSplitLosslessly) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    std::string s(rng() % 2000, '\0');
    // Mix of full-range bytes and text-like bytes so every clause triggers.
    for (char& c : s) c = static_cast<char>(trial % 2 ? rng() % 256 : " aZ9'.\n\t\xC3\xA9\xE2\x80"[rng() % 13]);
    std::string joined;
    size_t pieces = 0;
    mds::for_each_pretoken(s, [&](std::string_view p) {
      EXPECT_FALSE(p.empty());
      EXPECT_LE(p.size(), mds::kMaxPretokenBytes);
      joined.append(p);
      ++pieces;
    });
    EXPECT_EQ(joined, s);
    if (s.empty()) EXPECT_EQ(pieces, 0u);
  }
}

}  // namespace
