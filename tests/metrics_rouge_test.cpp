// ROUGE against the rouge-score test vectors (../shared/testvectors/rouge):
// per-example P/R/F with and without stemming, the nltk Porter stems, and
// the tokenizer and LCS details the vectors rely on.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "metrics/lcs.h"
#include "metrics/porter.h"
#include "metrics/rouge.h"
#include "metrics/sentence_split.h"
#include "metrics/tokenize_rouge.h"
#include "metrics_testutil.h"

namespace {

using mds_test::Tally;

const char* const kTypes[] = {"rouge1", "rouge2", "rougeL", "rougeLsum"};

void check_dev(bool stem, int threads) {
  auto rows = mds_test::read_jsonl(mds_test::vectors_path("rouge/dev.jsonl"));
  ASSERT_EQ(rows.size(), 150u);
  std::vector<mds::EvalExample> ex;
  for (const auto& r : rows) {
    mds::EvalExample e;
    e.refs = {r["reference"].get<std::string>()};
    e.hyp = r["prediction"].get<std::string>();
    ex.push_back(e);
  }
  mds::RougeOptions opt;
  opt.tokenize.stem = stem;
  auto got = mds::score_rouge_many(ex, opt, threads);
  Tally tally;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& want = rows[i]["expected"][stem ? "stem" : "nostem"];
    for (size_t t = 0; t < 4; ++t) {
      const auto& w = want[kTypes[t]];
      std::string what = rows[i]["id"].get<std::string>() + " " + kTypes[t];
      tally.check(got[i][t].precision, w["precision"].get<double>(), what + " precision");
      tally.check(got[i][t].recall, w["recall"].get<double>(), what + " recall");
      tally.check(got[i][t].fmeasure, w["fmeasure"].get<double>(), what + " fmeasure");
    }
  }
  tally.report(stem ? "rouge dev stem" : "rouge dev nostem");
  EXPECT_EQ(tally.compared, 150u * 12u);
}

TEST(MetricsRouge, DevVectorsNoStem) { check_dev(false, 1); }
TEST(MetricsRouge, DevVectorsStem) { check_dev(true, 1); }
TEST(MetricsRouge, DevVectorsStemTwoThreads) { check_dev(true, 2); }

TEST(MetricsRouge, PorterStemsOfDevTokens) {
  std::ifstream f(mds_test::vectors_path("rouge/dev_porter_stems.tsv"));
  ASSERT_TRUE(f.good());
  std::string line;
  size_t n = 0;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    EXPECT_EQ(mds::porter_stem(line.substr(0, tab)), line.substr(tab + 1)) << line;
    ++n;
  }
  EXPECT_EQ(n, 4841u);
}

TEST(MetricsRouge, DefaultTokenizerFollowsPythonLower) {
  using mds::RougeTokenizerKind;
  // U+0130 lowers to "i" + U+0307 (a separator); the Kelvin sign lowers to "k".
  EXPECT_EQ(mds::rouge_tokens("\xC4\xB0stanbul", RougeTokenizerKind::rouge_score, false),
            (std::vector<std::string>{"i", "stanbul"}));
  EXPECT_EQ(mds::rouge_tokens("5\xE2\x84\xAA run", RougeTokenizerKind::rouge_score, false),
            (std::vector<std::string>{"5k", "run"}));
  // Every other non-ASCII character separates; digits are ordinary characters.
  EXPECT_EQ(mds::rouge_tokens("Caf\xC3\xA9 Stra\xC3\x9F" "e 1990s", RougeTokenizerKind::rouge_score, true),
            (std::vector<std::string>{"caf", "stra", "e", "1990"}));
  EXPECT_TRUE(mds::rouge_tokens("\xE6\x97\xA5\xE6\x9C\xAC", RougeTokenizerKind::rouge_score, false).empty());
  // Only tokens longer than 3 characters are stemmed.
  EXPECT_EQ(mds::rouge_tokens("was uses", RougeTokenizerKind::rouge_score, true),
            (std::vector<std::string>{"was", "use"}));
}

TEST(MetricsRouge, UnicodeTokenizerKeepsNonLatinText) {
  using mds::RougeTokenizerKind;
  EXPECT_EQ(mds::rouge_tokens("Caf\xC3\xA9 \xD0\x9C\xD0\xB8\xD1\x80", RougeTokenizerKind::unicode, false),
            (std::vector<std::string>{"caf\xC3\xA9", "\xD0\xBC\xD0\xB8\xD1\x80"}));
  // Han characters are tokens by themselves.
  EXPECT_EQ(mds::rouge_tokens("\xE6\x97\xA5\xE6\x9C\xAC", RougeTokenizerKind::unicode, false),
            (std::vector<std::string>{"\xE6\x97\xA5", "\xE6\x9C\xAC"}));
  mds::RougeOptions opt;
  opt.tokenize.kind = RougeTokenizerKind::unicode;
  mds::RougeScorer scorer(opt);
  auto s = scorer.score("\xD0\x9C\xD0\xB8\xD1\x80 \xD0\xB4\xD0\xBE\xD0\xBC", "\xD0\xBC\xD0\xB8\xD1\x80");
  EXPECT_EQ(s[0].precision, 1.0);
  EXPECT_EQ(s[0].recall, 0.5);
}

TEST(MetricsRouge, EmptyTextsScoreZero) {
  mds::RougeScorer scorer(mds::RougeOptions{});
  for (auto pair : {std::make_pair("", ""), std::make_pair("a b", ""), std::make_pair("", "a b"),
                    std::make_pair("!!", "?? ..")}) {
    for (const auto& s : scorer.score(pair.first, pair.second)) {
      EXPECT_EQ(s.precision, 0.0);
      EXPECT_EQ(s.recall, 0.0);
      EXPECT_EQ(s.fmeasure, 0.0);
    }
  }
}

TEST(MetricsRouge, MultiReferencePicksBestF) {
  mds::RougeScorer scorer(mds::RougeOptions{});
  auto s = scorer.score_multi({"x y z", "a b c d", "a b c"}, "a b c");
  EXPECT_EQ(s[0].fmeasure, 1.0);  // third reference wins for rouge1
  auto first = scorer.score_multi({"a b", "a b"}, "a b c");
  EXPECT_EQ(first[0].recall, 1.0);
}

TEST(MetricsRouge, RejectsUnknownTypes) {
  mds::RougeOptions opt;
  opt.types = {"rouge0"};
  EXPECT_THROW(mds::RougeScorer{opt}, mds::Error);
  opt.types = {"rougeL", "rougeL"};
  EXPECT_THROW(mds::RougeScorer{opt}, mds::Error);
}

// Reference DP of rouge-score (_lcs_table + _backtrack_norec) for random checks.
std::vector<uint32_t> naive_backtrack(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  size_t m = a.size(), n = b.size();
  std::vector<std::vector<size_t>> t(m + 1, std::vector<size_t>(n + 1, 0));
  for (size_t i = 1; i <= m; ++i)
    for (size_t j = 1; j <= n; ++j)
      t[i][j] = a[i - 1] == b[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
  std::vector<uint32_t> out;
  size_t i = m, j = n;
  while (i > 0 && j > 0) {
    if (a[i - 1] == b[j - 1]) {
      out.insert(out.begin(), static_cast<uint32_t>(i - 1));
      --i;
      --j;
    } else if (t[i][j - 1] > t[i - 1][j]) {
      --j;
    } else {
      --i;
    }
  }
  return out;
}

TEST(MetricsRouge, LcsMatchesReferenceDpIncludingCheckpointing) {
  uint64_t x = 12345;
  auto rnd = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(x >> 33);
  };
  mds::LcsEngine engine, tiny, sparse;
  tiny.set_row_budget_bytes(64);   // forces the checkpointed path
  sparse.set_mask_budget_words(1);  // forces masks built per row from positions
  sparse.set_row_budget_bytes(256);
  for (int trial = 0; trial < 400; ++trial) {
    size_t m = rnd() % 200, n = rnd() % 200, alpha = 1 + rnd() % 6;
    std::vector<uint32_t> a(m), b(n);
    for (auto& v : a) v = rnd() % alpha;
    for (auto& v : b) v = rnd() % alpha;
    auto want = naive_backtrack(a, b);
    std::vector<uint32_t> got, got2, got3;
    engine.backtrack(a.data(), m, b.data(), n, alpha, got);
    tiny.backtrack(a.data(), m, b.data(), n, alpha, got2);
    sparse.backtrack(a.data(), m, b.data(), n, alpha, got3);
    ASSERT_EQ(got, want) << "trial " << trial << " m=" << m << " n=" << n;
    ASSERT_EQ(got2, want) << "trial " << trial << " (checkpointed)";
    ASSERT_EQ(got3, want) << "trial " << trial << " (sparse masks)";
    EXPECT_EQ(engine.length(a.data(), m, b.data(), n, alpha), want.size());
    EXPECT_EQ(sparse.length(a.data(), m, b.data(), n, alpha), want.size());
  }
}

}  // namespace

namespace {

std::vector<std::string> pieces(const std::vector<std::string_view>& v) { return {v.begin(), v.end()}; }

TEST(MetricsRouge, NewlineSplitDropsEmptyPieces) {
  EXPECT_EQ(pieces(mds::split_newlines("a\n\nb c\r\n \n")), (std::vector<std::string>{"a", "b c\r", " "}));
  EXPECT_TRUE(mds::split_newlines("").empty());
}

TEST(MetricsRouge, SentenceSplitterRules) {
  EXPECT_EQ(pieces(mds::split_sentences("We ran it. It worked! Did it? Yes.")),
            (std::vector<std::string>{"We ran it.", " It worked!", " Did it?", " Yes."}));
  // Abbreviations, initials, decimals and a lower-case continuation do not end a sentence.
  EXPECT_EQ(pieces(mds::split_sentences("See Fig. 2 and e.g. J. Smith et al. in 3.5 s. then more. Next one")),
            (std::vector<std::string>{"See Fig. 2 and e.g. J. Smith et al. in 3.5 s. then more.", " Next one"}));
  // Closing quotes stay with their sentence; newlines always split.
  EXPECT_EQ(pieces(mds::split_sentences("He said \"stop.\" Then left\nNew line")),
            (std::vector<std::string>{"He said \"stop.\"", " Then left", "New line"}));
  // CJK full stops split without spaces.
  EXPECT_EQ(mds::split_sentences("\xE4\xB8\x80\xE3\x80\x82\xE4\xBA\x8C\xE3\x80\x82").size(), 2u);
}

TEST(MetricsRouge, SentenceModeKeepsTokensAndChangesOnlyLsum) {
  const char* ref = "The cat sat on the mat. The dog barked loudly at night.";
  const char* hyp = "The dog barked at night. A cat sat on a mat.";
  mds::RougeOptions nl, sent;
  sent.tokenize.lsum_split = mds::LsumSplit::sentence;
  auto a = mds::RougeScorer(nl).score(ref, hyp);
  auto b = mds::RougeScorer(sent).score(ref, hyp);
  for (int t = 0; t < 3; ++t) EXPECT_EQ(a[t].fmeasure, b[t].fmeasure);  // rouge1/2/L unchanged
  EXPECT_EQ(a[3].fmeasure, a[2].fmeasure);                               // one "sentence": Lsum = L
  EXPECT_GT(b[3].fmeasure, b[2].fmeasure);                               // sentence-level union LCS
  // Same result as writing the sentences on separate lines.
  auto c = mds::RougeScorer(nl).score("The cat sat on the mat.\nThe dog barked loudly at night.",
                                      "The dog barked at night.\nA cat sat on a mat.");
  EXPECT_EQ(b[3].fmeasure, c[3].fmeasure);
}

}  // namespace
