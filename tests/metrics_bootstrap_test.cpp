// rouge-score aggregation against ../shared/testvectors/rouge/dev_aggregate.json:
// numpy.mean per measure and BootstrapAggregator low/mid/high for every seed,
// sample count and confidence level recorded there, plus numpy's RNG and
// pairwise-sum details.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "metrics/bootstrap.h"
#include "metrics/numpy_mean.h"
#include "metrics/rouge.h"
#include "metrics_testutil.h"

namespace {

using mds_test::Tally;

TEST(MetricsBootstrap, DevAggregateMatchesRougeScore) {
  auto rows = mds_test::read_jsonl(mds_test::vectors_path("rouge/dev.jsonl"));
  auto agg = mds_test::read_json(mds_test::vectors_path("rouge/dev_aggregate.json"));
  std::vector<std::string> order = agg["rouge_types_order"].get<std::vector<std::string>>();
  // Score every example once per stemming setting; a type's score does not
  // depend on the other types requested.
  std::vector<mds::EvalExample> all;
  for (const auto& r : rows) {
    mds::EvalExample e;
    e.refs = {r["reference"].get<std::string>()};
    e.hyp = r["prediction"].get<std::string>();
    all.push_back(e);
  }
  std::vector<std::vector<mds::Prf>> scored[2];
  for (int stem = 0; stem < 2; ++stem) {
    mds::RougeOptions opt;
    opt.types = order;
    opt.tokenize.stem = stem == 1;
    scored[stem] = mds::score_rouge_many(all, opt, 2);
  }
  Tally tally;
  size_t configs = 0;
  for (const auto& cfg : agg["configs"]) {
    ++configs;
    bool stem = cfg["use_stemmer"].get<bool>();
    size_t n = cfg["n"].get<size_t>();
    std::string subset = cfg["subset"].get<std::string>();
    ASSERT_EQ(n, subset == "all" ? rows.size() : size_t(10));
    mds::RougeOptions opt;
    opt.types = cfg.contains("only_type") ? std::vector<std::string>{cfg["only_type"].get<std::string>()} : order;
    std::vector<std::vector<mds::Prf>> scores(n);
    for (size_t i = 0; i < n; ++i)
      for (const auto& t : opt.types)
        scores[i].push_back(scored[stem][i][std::find(order.begin(), order.end(), t) - order.begin()]);
    std::string name = subset + (stem ? " stem" : " nostem");
    if (cfg.contains("mean")) {
      for (size_t t = 0; t < opt.types.size(); ++t) {
        std::vector<double> p, r, f;
        for (const auto& s : scores) {
          p.push_back(s[t].precision);
          r.push_back(s[t].recall);
          f.push_back(s[t].fmeasure);
        }
        const auto& want = cfg["mean"][opt.types[t]];
        tally.check(mds::numpy_mean(p), want["precision"].get<double>(), name + " mean precision " + opt.types[t]);
        tally.check(mds::numpy_mean(r), want["recall"].get<double>(), name + " mean recall " + opt.types[t]);
        tally.check(mds::numpy_mean(f), want["fmeasure"].get<double>(), name + " mean fmeasure " + opt.types[t]);
      }
    }
    for (const auto& b : cfg["bootstrap"]) {
      mds::BootstrapOptions bo;
      bo.seed = b["seed"].get<uint32_t>();
      bo.n_samples = b["n_samples"].get<size_t>();
      bo.confidence_interval = b["confidence_interval"].get<double>();
      auto got = mds::bootstrap_aggregate(scores, opt.types.size(), bo);
      for (size_t t = 0; t < opt.types.size(); ++t) {
        const auto& want = b["result"][opt.types[t]];
        const mds::Prf* g[3] = {&got[t].low, &got[t].mid, &got[t].high};
        const char* names[3] = {"low", "mid", "high"};
        for (int k = 0; k < 3; ++k) {
          std::string what = name + " seed " + std::to_string(bo.seed) + " " + opt.types[t] + " " + names[k];
          tally.check(g[k]->precision, want[names[k]]["precision"].get<double>(), what + " precision");
          tally.check(g[k]->recall, want[names[k]]["recall"].get<double>(), what + " recall");
          tally.check(g[k]->fmeasure, want[names[k]]["fmeasure"].get<double>(), what + " fmeasure");
        }
      }
    }
  }
  EXPECT_EQ(configs, 6u);
  tally.report("rouge aggregate");
}

TEST(MetricsBootstrap, LegacyRandintUsesMaskedRejection) {
  // With n a power of two the mask is n-1 and no word is rejected.
  mds::NumpyLegacyRandom r(123);
  std::mt19937 mt(123);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r.randint(8), mt() & 7u);
  // A one-value range draws no words at all.
  mds::NumpyLegacyRandom a(5), b(5);
  EXPECT_EQ(a.randint(1), 0u);
  EXPECT_EQ(a.randint(1000), b.randint(1000));
}

TEST(MetricsBootstrap, NumpySumIsPairwise) {
  // 0.1 repeated: pairwise (unrolled by 8) and sequential sums differ in the last bits.
  std::vector<double> v(1000, 0.1);
  double seq = 0;
  for (double x : v) seq += x;
  double pw = mds::numpy_sum(v.data(), v.size());
  EXPECT_NE(pw, seq);
  EXPECT_NEAR(pw, 100.0, 1e-12);
  // Fewer than 8 values: a plain left-to-right sum.
  std::vector<double> s{1e16, 1.0, -1e16};
  EXPECT_EQ(mds::numpy_sum(s.data(), s.size()), 0.0);
  EXPECT_TRUE(std::isnan(mds::numpy_mean({})));
  EXPECT_EQ(mds::numpy_mean({1.0, 2.0}), 1.5);
}

TEST(MetricsBootstrap, PercentileLinear) {
  std::vector<double> x{1, 2, 3, 4};
  EXPECT_EQ(mds::numpy_percentile_sorted(x, 50), 2.5);
  EXPECT_EQ(mds::numpy_percentile_sorted(x, 0), 1.0);
  EXPECT_EQ(mds::numpy_percentile_sorted(x, 100), 4.0);
}

}  // namespace
