// Tests of mds-inspect's reports: shard totals, histograms and top tokens;
// tokenizer details; unknown kinds; and errors on malformed files.
#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

#include "core/error.h"
#include "data/shard.h"
#include "inspect/inspect.h"
#include "io/container.h"
#include "text/tokenizer.h"
#include "test_files.h"

namespace fs = std::filesystem;

namespace {

class Inspect : public mds::testing::TempDirTest {
 protected:
  void SetUp() override {
    // A tiny tokenizer: merges "a"+"b" -> 260 and 260+"c" -> 261.
    tok_ = mds::Tokenizer::from_merges({{mds::kFirstByteId + 'a', mds::kFirstByteId + 'b'}, {260, mds::kFirstByteId + 'c'}});
    tok_.set_samples({"abc abc", "xyz"});
    tok_.save(path("tok.mds"));
  }

  mds::Tokenizer tok_;
};

TEST_F(Inspect, ShardTotalsHistogramsAndTopTokens) {
  mds::ShardInfo info{tok_.vocab_size(), tok_.hash(), 8, 4, "start"};
  mds::ShardWriter w(path("s.mds"), info, 2);
  const uint32_t abc = 261, x = mds::kFirstByteId + 'x';
  w.add(std::vector<uint32_t>{abc, abc, abc}.data(), 3, std::vector<uint32_t>{x}.data(), 1, false, false);
  w.add(std::vector<uint32_t>{abc}.data(), 1, std::vector<uint32_t>{x, x}.data(), 2, true, false);
  w.add(std::vector<uint32_t>(8, abc).data(), 8, nullptr, 0, true, true);
  w.finish();

  mds::InspectOptions o;
  o.tokenizer = path("tok.mds");
  o.top = 2;
  const auto r = mds::inspect_file(path("s.mds"), o);
  EXPECT_EQ(r["kind"], "shard");
  EXPECT_EQ(r["unit_count"], 3);  // two data units and the end unit
  const auto& s = r["shard"];
  EXPECT_EQ(s["units"], 2);
  EXPECT_EQ(s["end_units"], 1);
  EXPECT_EQ(s["records"], 3);
  EXPECT_EQ(s["truncated_src"], 2);
  EXPECT_EQ(s["truncated_trg"], 1);
  EXPECT_EQ(s["src_tokens"], 12);
  EXPECT_EQ(s["trg_tokens"], 3);
  EXPECT_EQ(s["truncate"], "start");
  EXPECT_EQ(s["max_src_len"], 8);
  EXPECT_EQ(s["src_length"]["min"], 1);
  EXPECT_EQ(s["src_length"]["max"], 8);
  EXPECT_EQ(s["src_length"]["p50"], 3);
  // Bins [1,2) [2,4) [4,8) [8,16): lengths 1, 3, 8.
  const auto& h = s["src_length"]["histogram"];
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0]["lo"], 1);
  EXPECT_EQ(h[0]["count"], 1);
  EXPECT_EQ(h[1]["count"], 1);
  EXPECT_EQ(h[2]["count"], 0);
  EXPECT_EQ(h[3]["count"], 1);
  EXPECT_EQ(s["trg_length"]["min"], 0);
  ASSERT_EQ(s["top_tokens"].size(), 2u);
  EXPECT_EQ(s["top_tokens"][0]["id"], abc);
  EXPECT_EQ(s["top_tokens"][0]["count"], 12);
  EXPECT_EQ(s["top_tokens"][0]["text"], "abc");
  EXPECT_EQ(s["top_tokens"][1]["text"], "x");
  EXPECT_FALSE(s["tokenizer"].contains("warning"));

  const std::string text = mds::render_inspect_text(r);
  EXPECT_NE(text.find("records: 3 in 2 units\n"), std::string::npos) << text;
  EXPECT_NE(text.find("end units: 1 (counts checked"), std::string::npos) << text;
  EXPECT_NE(text.find("truncated records: src 2, trg 1"), std::string::npos) << text;
  EXPECT_NE(text.find("\"abc\""), std::string::npos) << text;
}

TEST_F(Inspect, WarnsWhenTheTokenizerDoesNotMatch) {
  mds::ShardInfo info{tok_.vocab_size(), "fnv1a64:0123456789abcdef", 0, 0, "end"};
  mds::ShardWriter w(path("s.mds"), info);
  w.finish();
  mds::InspectOptions o;
  o.tokenizer = path("tok.mds");
  const auto r = mds::inspect_file(path("s.mds"), o);
  EXPECT_TRUE(r["shard"]["tokenizer"].contains("warning"));
  EXPECT_EQ(r["shard"]["records"], 0);
  EXPECT_NE(mds::render_inspect_text(r).find("src length: no records"), std::string::npos);
}

TEST_F(Inspect, TokenizerDetails) {
  const auto r = mds::inspect_file(path("tok.mds"), {});
  EXPECT_EQ(r["kind"], "tokenizer");
  const auto& t = r["units"][0]["tokenizer"];
  EXPECT_EQ(t["vocab_size"], 262);
  EXPECT_EQ(t["num_merges"], 2);
  EXPECT_EQ(t["specials"][3]["name"], "[MASK]");
  EXPECT_EQ(t["samples"][0]["text"], "abc abc");
  EXPECT_EQ(t["samples"][0]["ids"], (std::vector<uint32_t>{261, mds::kFirstByteId + ' ', 261}));
  EXPECT_EQ(t["last_merges"][0]["text"], "abc");
  EXPECT_EQ(t["longest_tokens"][0]["text"], "abc");
  const std::string text = mds::render_inspect_text(r);
  EXPECT_NE(text.find("vocabulary 262 (4 specials, 256 bytes, 2 merges)"), std::string::npos) << text;
  EXPECT_NE(text.find("self-test: passed (2 samples)"), std::string::npos) << text;
}

TEST_F(Inspect, UnknownKindShowsHeaderMetaSections) {
  mds::Container c;
  c.kind = "widget";
  c.meta = {{"colour", "blue"}};
  c.add(mds::Section::from<float>("weights", std::vector<float>(6, 1.0f), {2, 3}));
  mds::ContainerWriter w(path("w.mds"));
  w.write(c);
  w.write(c);
  w.commit();
  const auto r = mds::inspect_file(path("w.mds"), {});
  EXPECT_EQ(r["kind"], "widget");
  ASSERT_EQ(r["units"].size(), 2u);
  EXPECT_EQ(r["units"][1]["meta"]["colour"], "blue");
  EXPECT_GT(r["units"][1]["header"]["offset"].get<uint64_t>(), 0u);
  EXPECT_EQ(r["units"][0]["sections"][0]["dtype"], "f32");
  EXPECT_EQ(r["units"][0]["sections"][0]["shape"], (std::vector<int64_t>{2, 3}));
  const std::string text = mds::render_inspect_text(r);
  EXPECT_NE(text.find("kind widget"), std::string::npos) << text;
  EXPECT_NE(text.find("[2, 3]"), std::string::npos) << text;
}

TEST_F(Inspect, MalformedFilesAreBadInput) {
  {
    std::FILE* f = std::fopen(path("junk.mds").c_str(), "wb");
    std::fputs("this is not an mds file", f);
    std::fclose(f);
  }
  try {
    mds::inspect_file(path("junk.mds"), {});
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find(path("junk.mds") + ": offset 0"), std::string::npos) << e.what();
  }
}

}  // namespace
