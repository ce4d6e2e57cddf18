// sacrebleu BLEU and chrF against ../shared/testvectors/bleu: sentence BLEU
// and chrF per line (dev.jsonl), corpus BLEU with every recorded option,
// chrF and chrF++ per corpus (dev_corpus.jsonl), including signatures and
// sacrebleu's formatted lines.
#include <gtest/gtest.h>

#include "metrics/bleu.h"
#include "metrics/chrf.h"
#include "metrics/tokenize_13a.h"
#include "metrics/unicode_py.h"
#include "metrics_testutil.h"

namespace {

using mds_test::Tally;

void check_bleu(const mds::BleuScore& got, const nlohmann::json& want, const std::string& what, Tally& tally) {
  tally.check(got.score, want["score"].get<double>(), what + " score");
  tally.check(got.bp, want["bp"].get<double>(), what + " bp");
  tally.check(got.ratio, want["ratio"].get<double>(), what + " ratio");
  EXPECT_EQ(got.sys_len, want["sys_len"].get<long long>()) << what;
  EXPECT_EQ(got.ref_len, want["ref_len"].get<long long>()) << what;
  ASSERT_EQ(got.counts.size(), want["counts"].size()) << what;
  for (size_t n = 0; n < got.counts.size(); ++n) {
    EXPECT_EQ(got.counts[n], want["counts"][n].get<double>()) << what << " count " << n;
    EXPECT_EQ(got.totals[n], want["totals"][n].get<double>()) << what << " total " << n;
    tally.check(got.precisions[n], want["precisions"][n].get<double>(), what + " precision");
  }
  EXPECT_EQ(got.formatted, want["formatted"].get<std::string>()) << what;
}

TEST(MetricsBleu, SentenceBleuAndChrfPerLine) {
  auto rows = mds_test::read_jsonl(mds_test::vectors_path("bleu/dev.jsonl"));
  ASSERT_EQ(rows.size(), 158u);
  mds::BleuOptions opt;
  opt.effective_order = true;  // sacrebleu.sentence_bleu
  mds::ChrfOptions chrf;
  Tally tally;
  for (const auto& r : rows) {
    std::string id = r["id"].get<std::string>();
    std::string hyp = r["prediction"].get<std::string>();
    std::vector<std::string> refs{r["reference"].get<std::string>()};
    check_bleu(mds::sentence_bleu(hyp, refs, opt), r["expected"]["sacrebleu_sentence_bleu"], id, tally);
    auto c = mds::sentence_chrf(hyp, refs, chrf);
    tally.check(c.score, r["expected"]["sacrebleu_sentence_chrf"]["score"].get<double>(), id + " chrF");
    EXPECT_EQ(c.formatted, r["expected"]["sacrebleu_sentence_chrf"]["formatted"].get<std::string>()) << id;
  }
  tally.report("bleu sentence");
}

TEST(MetricsBleu, CorpusBleuChrfAllVariants) {
  auto rows = mds_test::read_jsonl(mds_test::vectors_path("bleu/dev_corpus.jsonl"));
  ASSERT_EQ(rows.size(), 53u);
  Tally tally;
  size_t variants = 0;
  for (const auto& c : rows) {
    std::string name = c["name"].get<std::string>();
    std::vector<mds::EvalExample> ex;
    for (size_t i = 0; i < c["prediction"].size(); ++i) {
      mds::EvalExample e;
      e.hyp = c["prediction"][i].get<std::string>();
      const auto& ref = c["reference"][i];
      if (ref.is_string())
        e.refs = {ref.get<std::string>()};
      else
        e.refs = ref.get<std::vector<std::string>>();
      ex.push_back(e);
    }
    int nrefs = mds::count_references(ex);
    for (const auto& [key, want] : c["expected"].items()) {
      std::string what = name + " " + key;
      ++variants;
      if (key.rfind("chrf", 0) == 0) {
        mds::ChrfOptions opt;
        if (key == "chrf++") opt.word_order = 2;
        auto got = mds::corpus_chrf(ex, opt, 2);
        tally.check(got.score, want["score"].get<double>(), what);
        EXPECT_EQ(got.formatted, want["formatted"].get<std::string>()) << what;
        EXPECT_EQ(mds::chrf_signature(opt, nrefs), want["signature"].get<std::string>()) << what;
        continue;
      }
      mds::BleuOptions opt;
      if (key == "bleu_lowercase") opt.lowercase = true;
      else if (key == "bleu_smooth_none") opt.smooth = mds::BleuSmooth::none;
      else if (key == "bleu_smooth_floor_0.1") opt.smooth = mds::BleuSmooth::floor;
      else if (key == "bleu_smooth_add-k_1") opt.smooth = mds::BleuSmooth::add_k;
      else if (key == "bleu_tokenize_none") opt.tokenize = mds::BleuTokenizer::none;
      else ASSERT_EQ(key, "bleu") << "unknown variant in the vectors";
      check_bleu(mds::corpus_bleu(ex, opt, 2), want, what, tally);
      EXPECT_EQ(mds::bleu_signature(opt, nrefs), want["signature"].get<std::string>()) << what;
    }
  }
  EXPECT_EQ(variants, 53u * 8u);
  tally.report("bleu corpus");
}

TEST(MetricsBleu, Tokenizer13aRules) {
  EXPECT_EQ(mds::tokenize_13a("Hello, world. (a) 3.5 1,000 5-6 a-b"), "Hello , world . ( a ) 3.5 1,000 5 - 6 a-b");
  // Entities are replaced once, in order (so "&amp;quot;" gives "&quot;", whose
  // symbols are then padded), and "<skipped>" disappears.
  EXPECT_EQ(mds::tokenize_13a("&amp;quot; x&lt;y <skipped>z"), "& quot ; x < y z");
  EXPECT_EQ(mds::tokenize_13a("hy-\nphen\nline"), "hyphen line");
  // Non-ASCII punctuation stays attached; NBSP splits (Python str.split()).
  EXPECT_EQ(mds::tokenize_13a("\xE2\x80\x9Cquote\xE2\x80\x9D a\xC2\xA0" "b"), "\xE2\x80\x9Cquote\xE2\x80\x9D a b");
}

TEST(MetricsBleu, PythonStringSemantics) {
  EXPECT_EQ(mds::py_lower("\xC4\xB0I\xE2\x84\xAA"), "i\xCC\x87ik");
  // Final sigma: word-final capital sigma lowers to U+03C2.
  EXPECT_EQ(mds::py_lower("\xCE\xA3\xCE\x91\xCE\xA3 \xCE\x91\xCE\xA3."), "\xCF\x83\xCE\xB1\xCF\x82 \xCE\xB1\xCF\x82.");
  EXPECT_EQ(mds::py_rstrip("a \xE3\x80\x80\x1c\n"), "a");
  EXPECT_EQ(mds::py_split("a\xE2\x80\x8B" "b c\xC2\x85" "d").size(), 3u);  // U+200B is not a space
}

TEST(MetricsBleu, EmptyInputsDoNotCrash) {
  mds::BleuOptions opt;
  auto s = mds::sentence_bleu("", {""}, opt);
  EXPECT_EQ(s.score, 0.0);
  // sys_len 0 >= ref_len 0: sacrebleu keeps BP = 1.
  EXPECT_EQ(s.formatted, "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 0 ref_len = 0)");
  EXPECT_EQ(mds::sentence_chrf("", {""}, mds::ChrfOptions{}).score, 0.0);
  EXPECT_EQ(mds::corpus_bleu({}, opt, 1).score, 0.0);
}

}  // namespace
