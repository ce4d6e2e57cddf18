// Tests of the tokenizer file: save/load and embedding round trips, and that
// corruption (a changed merge table, wrong kind, bad metadata) is rejected
// on load with a message naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "io/container.h"
#include "text/bpe_trainer.h"
#include "text/tokenizer.h"
#include "text/train_corpus.h"
#include "test_files.h"

namespace fs = std::filesystem;

namespace {

class TokenizerFile : public mds::testing::TempDirTest {
 protected:
  static void SetUpTestSuite() {
    mds::CorpusOptions co;
    co.threads = 2;
    std::vector<std::string> samples;
    mds::WordCounts wc = mds::count_corpus_words({std::string(MDS_SHARED_DIR) + "/data/conala/train.jsonl.zst"}, co,
                                                 nullptr, &samples, 4);
    mds::BpeTrainOptions bo;
    bo.vocab_size = 1200;
    tok_ = new mds::Tokenizer(mds::train_bpe(wc, bo));
    auto texts = mds::builtin_sample_texts();
    texts.insert(texts.end(), samples.begin(), samples.end());
    tok_->set_samples(texts);
    tok_->training_info() = {{"note", "test"}};
  }
  static void TearDownTestSuite() { delete tok_; }

  // Loads `path` and returns the bad-input error message (fails if it loads).
  static std::string load_error(const std::string& path) {
    try {
      mds::Tokenizer::load(path);
    } catch (const mds::Error& e) {
      EXPECT_EQ(e.code(), mds::ExitCode::bad_input) << e.what();
      return e.what();
    }
    ADD_FAILURE() << path << " loaded but should not have";
    return "";
  }

  static mds::Tokenizer* tok_;
};
mds::Tokenizer* TokenizerFile::tok_ = nullptr;

TEST_F(TokenizerFile, SaveLoadRoundTrip) {
  const std::string path = dir_.path("tok.mds");
  tok_->save(path);
  mds::Tokenizer back = mds::Tokenizer::load(path);
  EXPECT_EQ(back.vocab_size(), tok_->vocab_size());
  EXPECT_EQ(back.merges(), tok_->merges());
  EXPECT_EQ(back.hash(), tok_->hash());
  ASSERT_EQ(back.samples().size(), tok_->samples().size());
  EXPECT_GE(back.samples().size(), 5u + 4u);
  EXPECT_EQ(back.samples()[4].text, tok_->samples()[4].text);  // the invalid-UTF-8/NUL sample survives
  EXPECT_EQ(back.training_info()["note"], "test");
  const std::string text = "x = [i for i in range(10)]  # list\n";
  EXPECT_EQ(back.encode(text), tok_->encode(text));
}

TEST_F(TokenizerFile, EmbedsInAnotherContainer) {
  mds::Container ckpt;
  ckpt.kind = "checkpoint";
  ckpt.meta["step"] = 7;
  ckpt.add(mds::Section::from<float>("param/w", std::vector<float>{1, 2, 3}));
  tok_->add_to(ckpt);
  const std::string path = dir_.path("ckpt.mds");
  mds::write_container(path, ckpt);
  mds::Container read = mds::read_container(path, "checkpoint");
  mds::Tokenizer back = mds::Tokenizer::from_embedded(read);
  EXPECT_EQ(back.hash(), tok_->hash());
  EXPECT_EQ(back.samples().size(), tok_->samples().size());
  EXPECT_NE(read.find("tokenizer/merges"), nullptr);
  EXPECT_NE(read.find("param/w"), nullptr);
  // A container without a tokenizer says so.
  mds::Container bare;
  bare.kind = "checkpoint";
  EXPECT_THROW(mds::Tokenizer::from_embedded(bare), mds::Error);
}

TEST_F(TokenizerFile, HashIdentifiesTheMergeTable) {
  EXPECT_EQ(tok_->hash().rfind("fnv1a64:", 0), 0u);
  EXPECT_EQ(tok_->hash().size(), 8u + 16u);
  mds::Tokenizer other = mds::Tokenizer::from_merges({tok_->merges().begin(), tok_->merges().end() - 1});
  EXPECT_NE(other.hash(), tok_->hash());
  EXPECT_EQ(mds::Tokenizer::from_merges(tok_->merges()).hash(), tok_->hash());
}

TEST_F(TokenizerFile, SwappedMergesFailTheSelfTest) {
  mds::Container c = tok_->to_container();
  mds::Section* m = nullptr;
  for (auto& s : c.sections)
    if (s.name == "merges") m = &s;
  ASSERT_NE(m, nullptr);
  auto flat = m->to_vector<uint32_t>();
  // Merges 0 and 1 both join two bytes, so swapping them keeps the table well
  // formed but changes which pair wins: only the samples can notice.
  ASSERT_LT(flat[0], mds::kFirstMergeId);
  ASSERT_LT(flat[3], mds::kFirstMergeId);
  std::swap(flat[0], flat[2]);
  std::swap(flat[1], flat[3]);
  *m = mds::Section::from<uint32_t>("merges", flat, m->shape);
  const std::string path = dir_.path("swapped.mds");
  mds::write_container(path, c);
  const std::string err = load_error(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("self-test failed"), std::string::npos) << err;
  EXPECT_NE(err.find("merge table is corrupted"), std::string::npos) << err;
}

TEST_F(TokenizerFile, ChangedRareMergeFailsTheHashCheck) {
  mds::Container c = tok_->to_container();
  for (auto& s : c.sections) {
    if (s.name != "merges") continue;
    auto flat = s.to_vector<uint32_t>();
    // Redirect the last merge to join two bytes no sample contains.
    flat[flat.size() - 2] = mds::kFirstByteId + 0x80;
    flat[flat.size() - 1] = mds::kFirstByteId + 0x81;
    s = mds::Section::from<uint32_t>("merges", flat, s.shape);
  }
  const std::string path = dir_.path("rare.mds");
  mds::write_container(path, c);
  const std::string err = load_error(path);
  EXPECT_NE(err.find("content hash mismatch"), std::string::npos) << err;
}

TEST_F(TokenizerFile, ForwardReferenceInMergesIsRejected) {
  mds::Container c = tok_->to_container();
  for (auto& s : c.sections) {
    if (s.name != "merges") continue;
    auto flat = s.to_vector<uint32_t>();
    flat[0] = mds::kFirstMergeId + 5;  // merge 0 cannot use merge 5's token
    s = mds::Section::from<uint32_t>("merges", flat, s.shape);
  }
  const std::string path = dir_.path("forward.mds");
  mds::write_container(path, c);
  const std::string err = load_error(path);
  EXPECT_NE(err.find("merge 0 refers to token 265"), std::string::npos) << err;
}

TEST_F(TokenizerFile, BadMetadataIsRejected) {
  const std::string path = dir_.path("meta.mds");
  {
    mds::Container c = tok_->to_container();
    c.meta["vocab_size"] = 5;
    mds::write_container(path, c);
    EXPECT_NE(load_error(path).find("vocab_size 5"), std::string::npos);
  }
  {
    mds::Container c = tok_->to_container();
    c.meta["pretokenizer"] = "gpt2";
    mds::write_container(path, c);
    EXPECT_NE(load_error(path).find("pre-tokenizer \"gpt2\""), std::string::npos);
  }
  {
    mds::Container c = tok_->to_container();
    c.meta["format"] = 99;
    mds::write_container(path, c);
    EXPECT_NE(load_error(path).find("upgrade mds"), std::string::npos);
  }
  {
    mds::Container c = tok_->to_container();
    c.meta.erase("hash");
    mds::write_container(path, c);
    EXPECT_NE(load_error(path).find("lacks the field \"hash\""), std::string::npos);
  }
  {
    mds::Container c = tok_->to_container();
    c.sections.pop_back();  // sample_ids_offsets
    mds::write_container(path, c);
    EXPECT_NE(load_error(path).find("sample_ids_offsets"), std::string::npos);
  }
}

TEST_F(TokenizerFile, WrongKindAndTruncationAreRejected) {
  const std::string path = dir_.path("kind.mds");
  mds::Container c = tok_->to_container();
  c.kind = "shard";
  mds::write_container(path, c);
  EXPECT_NE(load_error(path).find("kind"), std::string::npos);

  tok_->save(path);
  const auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);
  EXPECT_NE(load_error(path).find(path), std::string::npos);
}

}  // namespace
