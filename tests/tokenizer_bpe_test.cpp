// Tests of BPE training and encoding: a hand-checked merge sequence, tie
// breaking, min-frequency, thread-count independence, specials, and the
// caching encoder agreeing with the plain one.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "text/bpe_trainer.h"
#include "text/encoder_cache.h"
#include "text/tokenizer.h"
#include "text/train_corpus.h"

namespace {

using mds::kFirstByteId;
using mds::kFirstMergeId;
using mds::Merge;

uint32_t byte_id(char c) { return kFirstByteId + static_cast<unsigned char>(c); }

mds::Tokenizer train_words(const std::vector<std::pair<std::string, uint64_t>>& words, size_t vocab,
                           uint64_t min_freq = 1, mds::BpeTrainStats* stats = nullptr) {
  mds::WordCounts wc;
  for (const auto& [w, c] : words) wc.add(w, c);
  mds::BpeTrainOptions o;
  o.vocab_size = vocab;
  o.min_frequency = min_freq;
  return mds::train_bpe(wc, o, stats);
}

TEST(BpeTrain, HandCheckedMerges) {
  // Pair counts: ug 20, pu 17, un 16, hu 15, gs 5, bu 4. After "ug": un 16,
  // h+ug 15, pu 12, ... After "un": h+ug 15, p+un 12, ...
  mds::BpeTrainStats st;
  auto tok = train_words({{"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}}, kFirstMergeId + 4, 1, &st);
  const uint32_t ug = kFirstMergeId, un = kFirstMergeId + 1, hug = kFirstMergeId + 2;
  ASSERT_EQ(tok.num_merges(), 4u);
  EXPECT_EQ(tok.merges()[0], (Merge{byte_id('u'), byte_id('g')}));
  EXPECT_EQ(tok.merges()[1], (Merge{byte_id('u'), byte_id('n')}));
  EXPECT_EQ(tok.merges()[2], (Merge{byte_id('h'), ug}));
  EXPECT_EQ(tok.merges()[3], (Merge{byte_id('p'), un}));
  EXPECT_EQ(tok.token_bytes(hug), "hug");
  EXPECT_EQ(st.stop_reason, "vocab_size");
  EXPECT_EQ(st.last_merge_count, 12u);
  EXPECT_EQ(tok.encode("hugs"), (std::vector<uint32_t>{hug, byte_id('s')}));
  EXPECT_EQ(tok.encode("bug"), (std::vector<uint32_t>{byte_id('b'), ug}));
  EXPECT_EQ(tok.encode("pun"), (std::vector<uint32_t>{kFirstMergeId + 3}));
}

TEST(BpeTrain, TiesGoToTheSmallerPair) {
  // "ab" and "cd" both occur 3 times: (a,b) has the smaller ids.
  auto tok = train_words({{"cd", 3}, {"ab", 3}}, kFirstMergeId + 1);
  ASSERT_EQ(tok.num_merges(), 1u);
  EXPECT_EQ(tok.merges()[0], (Merge{byte_id('a'), byte_id('b')}));
}

TEST(BpeTrain, OverlappingPairsMergeLeftToRight) {
  mds::BpeTrainStats st;
  auto tok = train_words({{"aaa", 4}}, kFirstMergeId + 10, 1, &st);
  // (a,a) occurs twice per word but merges once: "aaa" -> [aa, a] -> [aaa].
  ASSERT_EQ(tok.num_merges(), 2u);
  EXPECT_EQ(tok.token_bytes(kFirstMergeId + 1), "aaa");
  EXPECT_EQ(st.stop_reason, "no_pairs");
  EXPECT_EQ(tok.encode("aaaa"), (std::vector<uint32_t>{kFirstMergeId, kFirstMergeId}));
}

TEST(BpeTrain, MinFrequencyStopsTraining) {
  mds::BpeTrainStats st;
  auto tok = train_words({{"xy", 5}, {"pq", 2}, {"mn", 1}}, 1000, 2, &st);
  EXPECT_EQ(tok.num_merges(), 2u);
  EXPECT_EQ(st.stop_reason, "min_frequency");
}

TEST(BpeTrain, TooSmallVocabularyIsAUsageError) {
  mds::WordCounts wc;
  wc.add("ab");
  mds::BpeTrainOptions o;
  o.vocab_size = 100;
  try {
    mds::train_bpe(wc, o);
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::usage);
  }
}

TEST(BpeTrain, ResultDoesNotDependOnThreads) {
  const std::string path = std::string(MDS_SHARED_DIR) + "/data/qqp_diffuseq/valid.jsonl.zst";
  mds::CorpusOptions co;
  mds::BpeTrainOptions bo;
  bo.vocab_size = 1500;
  co.threads = 1;
  auto a = mds::train_bpe(mds::count_corpus_words({path}, co, nullptr, nullptr, 0), bo);
  co.threads = 3;
  auto b = mds::train_bpe(mds::count_corpus_words({path}, co, nullptr, nullptr, 0), bo);
  EXPECT_EQ(a.merges(), b.merges());
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.vocab_size(), 1500u);
}

TEST(BpeTrain, FullyMergedWordsBecomeSingleTokens) {
  // With room for every merge, each training word ends as one token.
  mds::BpeTrainStats st;
  auto tok = train_words({{"lower", 5}, {"lowest", 3}, {"newer", 6}, {"wider", 3}, {"new", 2}}, 300, 1, &st);
  EXPECT_EQ(st.stop_reason, "no_pairs");
  for (const char* w : {"lower", "lowest", "newer", "wider", "new"}) {
    auto ids = tok.encode(w);
    ASSERT_EQ(ids.size(), 1u) << w;
    EXPECT_EQ(tok.token_bytes(ids[0]), w);
  }
}

class TrainedTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    mds::CorpusOptions co;
    co.threads = 2;
    mds::BpeTrainOptions bo;
    bo.vocab_size = 3000;
    tok_ = new mds::Tokenizer(mds::train_bpe(
        mds::count_corpus_words({std::string(MDS_SHARED_DIR) + "/data/scitldr_a/valid.jsonl.zst"}, co, nullptr,
                                nullptr, 0),
        bo));
  }
  static void TearDownTestSuite() { delete tok_; }
  static mds::Tokenizer* tok_;
};
mds::Tokenizer* TrainedTokenizer::tok_ = nullptr;

TEST_F(TrainedTokenizer, SpecialsAreNeverProducedFromText) {
  const std::string text = "[PAD][CLS] [SEP] [MASK] <pad> </s>";
  auto ids = tok_->encode(text);
  for (uint32_t id : ids) EXPECT_GE(id, mds::kNumSpecials);
  EXPECT_EQ(tok_->decode(ids), text);
  EXPECT_EQ(tok_->id_of("[PAD]"), mds::kPadId);
  EXPECT_EQ(tok_->id_of("[CLS]"), mds::kClsId);
  EXPECT_EQ(tok_->id_of("[SEP]"), mds::kSepId);
  EXPECT_EQ(tok_->id_of("[MASK]"), mds::kMaskId);
  EXPECT_EQ(tok_->id_of("a"), byte_id('a'));
  EXPECT_FALSE(tok_->find("no such token in this vocabulary").has_value());
  EXPECT_THROW(tok_->id_of("no such token in this vocabulary"), mds::Error);
}

TEST_F(TrainedTokenizer, DecodeSkipsOrNamesSpecials) {
  std::vector<uint32_t> ids{mds::kClsId, byte_id('h'), byte_id('i'), mds::kSepId, mds::kPadId, mds::kMaskId};
  EXPECT_EQ(tok_->decode(ids), "hi");
  EXPECT_EQ(tok_->decode(ids, /*skip_special=*/false), "[CLS]hi[SEP][PAD][MASK]");
}

TEST_F(TrainedTokenizer, OutOfRangeIdIsBadInput) {
  try {
    tok_->decode({byte_id('a'), static_cast<uint32_t>(tok_->vocab_size())});
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos);
  }
}

TEST_F(TrainedTokenizer, RandomBytesRoundTrip) {
  std::mt19937 rng(99);
  mds::CachingEncoder cached(*tok_, 64);  // tiny cache: exercises clearing
  for (int trial = 0; trial < 500; ++trial) {
    std::string s(rng() % 3000, '\0');
    for (char& c : s) c = static_cast<char>(trial % 3 == 0 ? rng() % 256 : "the cat sat\n\t\0\xff\xc3\xa9 "[rng() % 16]);
    auto ids = tok_->encode(s);
    ASSERT_EQ(tok_->decode(ids), s) << "trial " << trial;
    std::vector<uint32_t> ids2;
    cached.encode_append(s, ids2);
    ASSERT_EQ(ids, ids2) << "trial " << trial;
  }
  EXPECT_GT(cached.hits(), 0u);
}

TEST_F(TrainedTokenizer, CompressesText) {
  const std::string text =
      "We propose a new method for training neural networks that improves the performance of the model.";
  auto ids = tok_->encode(text);
  EXPECT_LT(ids.size() * 3, text.size());  // better than 3 bytes per token on in-domain text
  EXPECT_EQ(tok_->decode(ids), text);
}

}  // namespace
