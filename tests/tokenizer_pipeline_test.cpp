// Tests of the bulk encode/decode jobs: truncation policies and counts,
// --skip-bad accounting, file:line errors, thread-count independence of the
// output bytes, and the text/ids path on random bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include "core/error.h"
#include "data/shard.h"
#include "io/stream.h"
#include "text/bpe_trainer.h"
#include "text/encode_pipeline.h"
#include "text/tokenizer.h"
#include "text/train_corpus.h"
#include "test_files.h"

namespace fs = std::filesystem;

namespace {

class Pipeline : public mds::testing::TempDirTest {
 protected:
  static void SetUpTestSuite() {
    mds::CorpusOptions co;
    mds::BpeTrainOptions bo;
    bo.vocab_size = 1000;
    tok_ = new mds::Tokenizer(mds::train_bpe(
        mds::count_corpus_words({std::string(MDS_SHARED_DIR) + "/data/qqp_diffuseq/valid.jsonl.zst"}, co, nullptr,
                                nullptr, 0),
        bo));
  }
  static void TearDownTestSuite() { delete tok_; }
  static mds::Tokenizer* tok_;
};
mds::Tokenizer* Pipeline::tok_ = nullptr;

TEST_F(Pipeline, TruncationPoliciesAndCounts) {
  const std::string long_src = "one two three four five six seven eight nine ten";
  const std::string in = write("in.jsonl", "{\"src\": \"" + long_src + "\", \"trg\": \"short\"}\n"
                                                "{\"src\": \"hi\", \"trg\": \"a b c d e f g h\"}\n\n");
  const auto full_src = tok_->encode(long_src);
  const auto full_trg = tok_->encode("a b c d e f g h");
  ASSERT_GT(full_src.size(), 5u);
  ASSERT_GT(full_trg.size(), 4u);
  mds::EncodeOptions o;
  o.max_src_len = 5;
  o.max_trg_len = 4;
  for (auto policy : {mds::TruncatePolicy::end, mds::TruncatePolicy::start}) {
    o.truncate = policy;
    auto st = mds::encode_pairs_to_shard(*tok_, {in}, path("out.mds"), o);
    EXPECT_EQ(st.records, 2u);
    EXPECT_EQ(st.lines, 3u);
    EXPECT_EQ(st.truncated_src, 1u);
    EXPECT_EQ(st.truncated_trg, 1u);
    auto recs = mds::read_all_records({path("out.mds")});
    ASSERT_EQ(recs.size(), 2u);
    const bool keep_head = policy == mds::TruncatePolicy::end;
    std::vector<uint32_t> want_src = keep_head ? std::vector<uint32_t>(full_src.begin(), full_src.begin() + 5)
                                               : std::vector<uint32_t>(full_src.end() - 5, full_src.end());
    std::vector<uint32_t> want_trg = keep_head ? std::vector<uint32_t>(full_trg.begin(), full_trg.begin() + 4)
                                               : std::vector<uint32_t>(full_trg.end() - 4, full_trg.end());
    EXPECT_EQ(recs[0].src, want_src);
    EXPECT_EQ(recs[0].trg, tok_->encode("short"));
    EXPECT_EQ(recs[1].trg, want_trg);
  }
  // error: the over-long line is reported with file and line...
  o.truncate = mds::TruncatePolicy::error;
  try {
    mds::encode_pairs_to_shard(*tok_, {in}, path("err.mds"), o);
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find(in + ":1: field \"src\" has"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("err.mds")));  // nothing half-written
  // ...or skipped and counted.
  o.skip_bad = true;
  auto st = mds::encode_pairs_to_shard(*tok_, {in}, path("skip.mds"), o);
  EXPECT_EQ(st.records, 0u);
  EXPECT_EQ(st.skipped, 2u);
  ASSERT_EQ(st.skipped_examples.size(), 2u);
  EXPECT_NE(st.skipped_examples[1].find(":2: field \"trg\""), std::string::npos) << st.skipped_examples[1];
}

TEST_F(Pipeline, BadLinesNameFileAndLine) {
  struct Case {
    std::string line, message;
  };
  const std::vector<Case> cases = {
      {"{\"src\": \"a\", \"trg\": ", "malformed JSON"},
      {"{\"src\": \"a\"}", "missing field \"trg\""},
      {"{\"src\": 3, \"trg\": \"b\"}", "field \"src\" must be a string, found number"},
      {"[1, 2]", "expected a JSON object, found array"},
      {"{\"src\": \"caf\xE9\", \"trg\": \"b\"}", "invalid UTF-8 at byte 12"},
  };
  for (const auto& c : cases) {
    const std::string in = write("bad.jsonl", "{\"src\": \"ok\", \"trg\": \"ok\"}\n" + c.line + "\n");
    try {
      mds::encode_pairs_to_shard(*tok_, {in}, path("o.mds"), {});
      ADD_FAILURE() << "no error for " << c.line;
    } catch (const mds::Error& e) {
      EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
      const std::string msg = e.what();
      EXPECT_NE(msg.find(in + ":2: "), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.message), std::string::npos) << msg;
    }
    mds::EncodeOptions o;
    o.skip_bad = true;
    auto st = mds::encode_pairs_to_shard(*tok_, {in}, path("o.mds"), o);
    EXPECT_EQ(st.records, 1u);
    EXPECT_EQ(st.skipped, 1u);
  }
}

TEST_F(Pipeline, OutputBytesDoNotDependOnThreads) {
  const std::string in = std::string(MDS_SHARED_DIR) + "/data/dailydialog/valid.jsonl.zst";
  mds::EncodeOptions o;
  o.records_per_unit = 100;
  o.max_src_len = 64;
  o.threads = 1;
  auto a = mds::encode_pairs_to_shard(*tok_, {in}, path("t1.mds"), o);
  o.threads = 3;
  auto b = mds::encode_pairs_to_shard(*tok_, {in}, path("t3.mds"), o);
  EXPECT_EQ(a.records, 1005u);
  EXPECT_EQ(a.truncated_src, b.truncated_src);
  EXPECT_GT(a.truncated_src, 0u);
  EXPECT_EQ(mds::testing::read_file(path("t1.mds")), mds::testing::read_file(path("t3.mds")));
  // Decoding in parallel keeps the order too.
  mds::decode_shard_to_jsonl(*tok_, {path("t1.mds")}, path("d1.jsonl"), true, 1);
  mds::decode_shard_to_jsonl(*tok_, {path("t1.mds")}, path("d3.jsonl"), true, 3);
  EXPECT_EQ(mds::testing::read_file(path("d1.jsonl")), mds::testing::read_file(path("d3.jsonl")));
}

TEST_F(Pipeline, TruncationInsideACharacterDecodesWithReplacement) {
  // Multi-byte characters the tokenizer never merged are single bytes; cutting
  // after the first byte leaves invalid UTF-8, which JSON output replaces.
  const std::string in = write("u.jsonl", "{\"src\": \"\xE6\x9D\xB1\xE4\xBA\xAC\", \"trg\": \"x\"}\n");
  mds::EncodeOptions o;
  o.max_src_len = 1;
  mds::encode_pairs_to_shard(*tok_, {in}, path("u.mds"), o);
  auto st = mds::decode_shard_to_jsonl(*tok_, {path("u.mds")}, path("u.out"), true, 1);
  EXPECT_EQ(st.invalid_utf8, 1u);
  EXPECT_EQ(mds::testing::read_file(path("u.out")), "{\"src\":\"\xEF\xBF\xBD\",\"trg\":\"x\"}\n");
}

TEST_F(Pipeline, DecodeRefusesAShardOfAnotherTokenizer) {
  const std::string in = write("in.jsonl", "{\"src\": \"a\", \"trg\": \"b\"}\n");
  mds::encode_pairs_to_shard(*tok_, {in}, path("s.mds"), {});
  mds::Tokenizer other;  // no merges: a different hash
  try {
    mds::decode_shard_to_jsonl(other, {path("s.mds")}, path("o.jsonl"), true, 1);
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find(tok_->hash()), std::string::npos) << e.what();
  }
}

TEST_F(Pipeline, TextLinesOfRandomBytesRoundTrip) {
  std::mt19937 rng(7);
  std::string content;
  for (int line = 0; line < 400; ++line) {
    size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) {
      char c = static_cast<char>(rng() % 256);
      content.push_back(c == '\n' ? '\0' : c);  // lines may hold NULs and invalid UTF-8, never "\n"
    }
    content.push_back('\n');
  }
  const std::string in = write("rnd.txt", content);
  for (int threads : {1, 2}) {
    auto st = mds::encode_lines_to_ids(*tok_, {in}, path("rnd.ids"), threads);
    EXPECT_EQ(st.records, 400u);
    auto ds = mds::decode_id_lines(*tok_, {path("rnd.ids")}, path("rnd.back"), true, threads);
    EXPECT_EQ(ds.records, 400u);
    EXPECT_EQ(mds::testing::read_file(path("rnd.back")), content);
  }
}

TEST_F(Pipeline, BadIdLinesNameFileAndLine) {
  const std::string in = write("ids.txt", "4 5 6\n7 x 8\n");
  try {
    mds::decode_id_lines(*tok_, {in}, path("o.txt"), true, 1);
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find(in + ":2: column 3: expected a token id"), std::string::npos) << e.what();
  }
  const std::string big = write("big.txt", "4\n5 1000\n");
  try {
    mds::decode_id_lines(*tok_, {big}, path("o.txt"), true, 1);
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_NE(std::string(e.what()).find(big + ":2: column 3: token id 1000 is out of range"), std::string::npos)
        << e.what();
  }
}

}  // namespace
