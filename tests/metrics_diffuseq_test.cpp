// DiffuSeq's evaluation against ../shared/testvectors: the per-line values of
// bleu/dev.jsonl (nltk method4 BLEU, float32 ROUGE-L, dist-1, len), the
// sample-set values of diffuseq/dev.jsonl (per sample, self-BLEU, div-4, MBR
// index) and the folder averages of diffuseq/dev_aggregate.json.
#include <gtest/gtest.h>

#include "core/error.h"
#include "metrics/diffuseq.h"
#include "metrics/mbr.h"
#include "metrics/numpy_mean.h"
#include "metrics/pymath.h"
#include "metrics_testutil.h"

namespace {

using mds_test::Tally;

void check_line(const mds::DiffuSeqLine& got, const nlohmann::json& want, const std::string& what, Tally& tally) {
  tally.check(got.bleu, want["bleu"].get<double>(), what + " bleu");
  tally.check(got.rougeL, want["rougeL"].get<double>(), what + " rougeL");
  tally.check(got.dist1, want["dist1"].get<double>(), what + " dist1");
  EXPECT_EQ(got.len, want["len"].get<long long>()) << what;
}

TEST(MetricsDiffuSeq, PerLineValuesOfBleuVectors) {
  auto rows = mds_test::read_jsonl(mds_test::vectors_path("bleu/dev.jsonl"));
  mds::DiffuSeqScorer scorer;
  mds::DiffuSeqTokens tok;
  Tally tally;
  for (const auto& r : rows) {
    std::string rec = mds::diffuseq_clean_recover(r["prediction"].get<std::string>(), tok);
    std::string ref = mds::diffuseq_clean_reference(r["reference"].get<std::string>(), tok);
    check_line(scorer.line(rec, ref), r["expected"]["diffuseq"], r["id"].get<std::string>(), tally);
  }
  tally.report("diffuseq lines");
}

TEST(MetricsDiffuSeq, SampleSetsAndAggregate) {
  auto rows = mds_test::read_jsonl(mds_test::vectors_path("diffuseq/dev.jsonl"));
  auto agg = mds_test::read_json(mds_test::vectors_path("diffuseq/dev_aggregate.json"));
  ASSERT_EQ(rows.size(), 50u);
  mds::DiffuSeqScorer scorer;
  mds::DiffuSeqTokens tok;
  Tally tally;
  const size_t k = 3;
  std::vector<std::vector<double>> bleu(k), rouge(k), dist(k), len(k);
  std::vector<double> self_bleu, div4, mbr_bleu, mbr_rouge, mbr_dist, mbr_len;
  std::vector<std::vector<std::string>> sets;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    std::string id = r["id"].get<std::string>();
    std::string ref = mds::diffuseq_clean_reference(r["reference"].get<std::string>(), tok);
    std::vector<std::string> samples;
    for (const auto& p : r["predictions"]) samples.push_back(mds::diffuseq_clean_recover(p.get<std::string>(), tok));
    ASSERT_EQ(samples.size(), k);
    for (size_t j = 0; j < k; ++j) {
      auto l = scorer.line(samples[j], ref);
      check_line(l, r["expected"]["samples"][j], id + " sample " + std::to_string(j), tally);
      bleu[j].push_back(l.bleu);
      rouge[j].push_back(l.rougeL);
      dist[j].push_back(l.dist1);
      len[j].push_back(static_cast<double>(l.len));
    }
    auto d = scorer.diversity(samples);
    tally.check(d.self_bleu, r["expected"]["self_bleu"].get<double>(), id + " self_bleu");
    tally.check(d.div4, r["expected"]["div4"].get<double>(), id + " div4");
    size_t best = scorer.select_best(samples);
    EXPECT_EQ(best, r["expected"]["mbr_index"].get<size_t>()) << id;
    EXPECT_EQ(best, agg["mbr"]["mbr_index_per_example"][i].get<size_t>()) << id;
    EXPECT_EQ(mds::select_mbr(samples), best) << id;
    sets.push_back(samples);
    self_bleu.push_back(d.self_bleu);
    div4.push_back(d.div4);
    auto m = scorer.line(samples[best], ref);
    mbr_bleu.push_back(m.bleu);
    mbr_rouge.push_back(m.rougeL);
    mbr_dist.push_back(m.dist1);
    mbr_len.push_back(static_cast<double>(m.len));
  }
  auto many = mds::select_mbr_many(sets, 2);
  for (size_t i = 0; i < sets.size(); ++i) EXPECT_EQ(many[i], agg["mbr"]["mbr_index_per_example"][i].get<size_t>());
  for (size_t j = 0; j < k; ++j) {
    const auto& w = agg["per_file_averages"][j];
    std::string what = "seed file " + std::to_string(j);
    tally.check(mds::numpy_mean(bleu[j]), w["avg_bleu"].get<double>(), what + " avg_bleu");
    tally.check(mds::numpy_mean(rouge[j]), w["avg_rougeL"].get<double>(), what + " avg_rougeL");
    tally.check(mds::numpy_mean(dist[j]), w["avg_dist1"].get<double>(), what + " avg_dist1");
    tally.check(mds::numpy_mean(len[j]), w["avg_len"].get<double>(), what + " avg_len");
  }
  tally.check(mds::numpy_mean(self_bleu), agg["diversity"]["avg_selfBleu"].get<double>(), "avg_selfBleu");
  tally.check(mds::numpy_mean(div4), agg["diversity"]["avg_div4"].get<double>(), "avg_div4");
  tally.check(mds::numpy_mean(mbr_bleu), agg["mbr"]["avg_bleu"].get<double>(), "mbr avg_bleu");
  tally.check(mds::numpy_mean(mbr_rouge), agg["mbr"]["avg_rougeL"].get<double>(), "mbr avg_rougeL");
  tally.check(mds::numpy_mean(mbr_dist), agg["mbr"]["avg_dist1"].get<double>(), "mbr avg_dist1");
  tally.check(mds::numpy_mean(mbr_len), agg["mbr"]["avg_len"].get<double>(), "mbr avg_len");
  tally.report("diffuseq sets");
}

TEST(MetricsDiffuSeq, CleaningFollowsEvalScript) {
  mds::DiffuSeqTokens tok;
  EXPECT_EQ(mds::diffuseq_clean_recover("  [CLS] a [PAD] b [SEP] [PAD] \n", tok), " a  b  ");
  EXPECT_EQ(mds::diffuseq_clean_reference("[CLS] a [PAD] [SEP]", tok), " a [PAD] ");
  tok.remove = false;
  EXPECT_EQ(mds::diffuseq_clean_recover(" [CLS] a ", tok), "[CLS] a");
}

TEST(MetricsDiffuSeq, EdgeCases) {
  mds::DiffuSeqScorer s;
  auto l = s.line("", "a b c");
  EXPECT_EQ(l.bleu, 0.0);
  EXPECT_EQ(l.rougeL, 0.0);
  EXPECT_EQ(l.dist1, 0.0);
  EXPECT_EQ(l.len, 1);
  auto d = s.diversity({"only one"});
  EXPECT_EQ(d.self_bleu, 0.0);
  EXPECT_EQ(d.div4, 0.0);
  EXPECT_EQ(mds::select_mbr({"x"}), 0u);
  EXPECT_THROW(mds::select_mbr({}), mds::Error);
  // Ties go to the first candidate.
  EXPECT_EQ(mds::select_mbr({"a b c d", "a b c d"}), 0u);
}

TEST(MetricsDiffuSeq, FsumIsCorrectlyRounded) {
  double v[] = {1e100, 1.0, -1e100, 1e-100};
  EXPECT_EQ(mds::python_fsum(v, 4), 1.0);
  double w[] = {0.1, 0.2, 0.3};
  EXPECT_EQ(mds::python_fsum(w, 3), 0.6);  // plain summation gives 0.6000000000000001
}

}  // namespace
