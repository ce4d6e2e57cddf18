// decode(encode(x)) == x byte for byte on every data set in ../shared/data
// (a few hundred lines per split, every line of the small long-document sets),
// through the library and through the shard pipeline (JSONL -> shard -> JSONL).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/stream.h"
#include "text/bpe_trainer.h"
#include "text/encode_pipeline.h"
#include "text/encoder_cache.h"
#include "text/tokenizer.h"
#include "text/train_corpus.h"

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kDatasets = {"arxiv_cohan_sample", "ccd_diffuseq", "code_docstring_python", "conala",
                                            "dailydialog", "pubmed_cohan_sample", "qqp_diffuseq", "scitldr_a",
                                            "sumpubmed", "sumpubmed_large"};
constexpr size_t kLinesPerSplit = 300;

std::string data_dir() { return std::string(MDS_SHARED_DIR) + "/data"; }

// The first `n` lines of a (possibly compressed) file.
std::vector<std::string> head_lines(const std::string& path, size_t n) {
  mds::LineReader r(path);
  std::vector<std::string> out;
  std::string line;
  while (out.size() < n && r.next(line)) out.push_back(line);
  return out;
}

class DatasetRoundTrip : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("mds_roundtrip_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    // A tokenizer trained on a little of every data set, so merges of all
    // kinds (code, dialogue, biomedical) are exercised.
    const std::string mix = (*dir_ / "mix.jsonl").string();
    {
      std::ofstream out(mix, std::ios::binary);
      for (const auto& d : kDatasets)
        for (const auto& l : head_lines(data_dir() + "/" + d + "/train.jsonl.zst", 40)) out << l << '\n';
    }
    mds::CorpusOptions co;
    co.threads = 2;
    mds::BpeTrainOptions bo;
    bo.vocab_size = 8000;
    tok_ = new mds::Tokenizer(mds::train_bpe(mds::count_corpus_words({mix}, co, nullptr, nullptr, 0), bo));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete tok_;
  }
  static fs::path* dir_;
  static mds::Tokenizer* tok_;
};
fs::path* DatasetRoundTrip::dir_ = nullptr;
mds::Tokenizer* DatasetRoundTrip::tok_ = nullptr;

TEST_F(DatasetRoundTrip, EveryDataSetSurvivesEncodeDecode) {
  mds::CachingEncoder cached(*tok_);
  size_t total_lines = 0, total_bytes = 0;
  for (const auto& d : kDatasets) {
    for (const char* split : {"train", "valid", "test"}) {
      const std::string path = data_dir() + "/" + d + "/" + split + ".jsonl.zst";
      if (!fs::exists(path)) continue;
      const auto lines = head_lines(path, kLinesPerSplit);
      ASSERT_FALSE(lines.empty()) << path;
      // Library path: every src and trg string.
      for (size_t i = 0; i < lines.size(); ++i) {
        auto obj = nlohmann::json::parse(lines[i]);
        for (const char* key : {"src", "trg"}) {
          const std::string text = obj.at(key).get<std::string>();
          std::vector<uint32_t> ids;
          cached.encode_append(text, ids);
          ASSERT_EQ(tok_->decode(ids), text) << path << ":" << i + 1 << " " << key;
          ASSERT_EQ(ids, tok_->encode(text)) << path << ":" << i + 1 << " " << key;
          total_bytes += text.size();
        }
      }
      // Pipeline path: JSONL -> shard -> JSONL, string values identical.
      const std::string in = (*dir_ / (d + "_" + split + ".jsonl")).string();
      {
        std::ofstream out(in, std::ios::binary);
        for (const auto& l : lines) out << l << '\n';
      }
      mds::EncodeOptions eo;
      eo.threads = 2;
      eo.records_per_unit = 64;
      const std::string shard = in + ".shard";
      auto st = mds::encode_pairs_to_shard(*tok_, {in}, shard, eo);
      ASSERT_EQ(st.records, lines.size()) << path;
      const std::string back = in + ".back";
      auto ds = mds::decode_shard_to_jsonl(*tok_, {shard}, back, true, 2);
      ASSERT_EQ(ds.invalid_utf8, 0u);
      const auto decoded = head_lines(back, lines.size() + 1);
      ASSERT_EQ(decoded.size(), lines.size()) << path;
      for (size_t i = 0; i < lines.size(); ++i) {
        auto a = nlohmann::json::parse(lines[i]), b = nlohmann::json::parse(decoded[i]);
        ASSERT_EQ(a.at("src"), b.at("src")) << path << ":" << i + 1;
        ASSERT_EQ(a.at("trg"), b.at("trg")) << path << ":" << i + 1;
      }
      total_lines += lines.size();
    }
  }
  // Sanity: the long-document sets really were included.
  EXPECT_GT(total_lines, 4000u);
  EXPECT_GT(total_bytes, 20u * 1000 * 1000);
}

}  // namespace
