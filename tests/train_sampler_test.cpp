// Timestep samplers: uniform, and loss-aware importance sampling
// (docs/training.md, "Timestep sampling"): uniform until every t has a full history, then
// p_t ∝ sqrt(mean L_t²) mixed with uniform, weights 1/(T p_t), state saved.
#include <cmath>
#include <filesystem>
#include <numeric>

#include <gtest/gtest.h>

#include "core/error.h"
#include "train/timestep_sampler.h"

namespace tr = mds::train;
using mds::Container;

TEST(TimestepSampler, UniformDrawsAllTimestepsWithUnitWeights) {
  tr::TimestepSampler s(tr::TimestepSampling::uniform, 50);
  tr::Rng rng(3);
  std::vector<int32_t> t;
  std::vector<double> w;
  std::vector<int> hist(50, 0);
  for (int k = 0; k < 1000; ++k) {
    s.sample(rng, 50, t, w);
    for (int i = 0; i < 50; ++i) {
      ASSERT_GE(t[i], 0);
      ASSERT_LT(t[i], 50);
      ASSERT_EQ(w[i], 1.0);
      ++hist[t[i]];
    }
  }
  // 50,000 draws over 50 bins: expected 1000 each, sd ~31.
  for (int h : hist) EXPECT_NEAR(h, 1000, 160);
  s.update({1, 2}, {5.0, 6.0});  // no-op
  EXPECT_FALSE(s.warmed_up());
}

TEST(TimestepSampler, SameRngSameDraws) {
  tr::TimestepSampler s(tr::TimestepSampling::uniform, 2000);
  std::vector<int32_t> a, b;
  std::vector<double> w;
  tr::Rng r1(tr::derive_seed(9, tr::Stream::timesteps, 4)), r2(tr::derive_seed(9, tr::Stream::timesteps, 4));
  s.sample(r1, 64, a, w);
  s.sample(r2, 64, b, w);
  EXPECT_EQ(a, b);
}

TEST(TimestepSampler, LossAwareIsUniformUntilEveryTimestepHasFullHistory) {
  const int T = 6, H = 3;
  tr::TimestepSampler s(tr::TimestepSampling::loss_aware, T, H, 0.001);
  for (int round = 0; round < H; ++round)
    for (int t = 0; t < T; ++t) {
      EXPECT_FALSE(s.warmed_up());
      for (double p : s.probabilities()) EXPECT_DOUBLE_EQ(p, 1.0 / T);
      s.update({t}, {10.0 * (t + 1)});
    }
  EXPECT_TRUE(s.warmed_up());
}

TEST(TimestepSampler, LossAwareProbabilitiesAndWeights) {
  const int T = 4, H = 2;
  const double u = 0.001;
  tr::TimestepSampler s(tr::TimestepSampling::loss_aware, T, H, u);
  // History per t: {3, 4} for t=0 → sqrt((9+16)/2); constant c for the others.
  s.update({0, 0, 1, 1, 2, 2, 3, 3}, {3, 4, 1, 1, 2, 2, 5, 5});
  const double r0 = std::sqrt(12.5);
  const double raw[T] = {r0, 1, 2, 5};
  const double sum = r0 + 8;
  const std::vector<double> p = s.probabilities();
  for (int t = 0; t < T; ++t) EXPECT_NEAR(p[t], raw[t] / sum * (1 - u) + u / T, 1e-15) << t;
  EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-15);
  // Importance weights are 1/(T p_t); empirical frequencies follow p.
  tr::Rng rng(11);
  std::vector<int32_t> ts;
  std::vector<double> w;
  std::vector<int> hist(T, 0);
  const int n = 200000;
  s.sample(rng, n, ts, w);
  for (int i = 0; i < n; ++i) {
    ++hist[ts[i]];
    ASSERT_DOUBLE_EQ(w[i], 1.0 / (T * p[ts[i]]));
  }
  for (int t = 0; t < T; ++t) EXPECT_NEAR(hist[t] / double(n), p[t], 0.005) << t;
  // The weighted mean of the per-t loss is unbiased: E_p[w L] = mean_t L.
  double weighted = 0;
  for (int i = 0; i < n; ++i) weighted += w[i] * raw[ts[i]];
  EXPECT_NEAR(weighted / n, (r0 + 8) / T, 0.02);
}

TEST(TimestepSampler, HistoryKeepsOnlyTheLastLosses) {
  const int T = 2, H = 3;
  tr::TimestepSampler s(tr::TimestepSampling::loss_aware, T, H, 0.0);
  for (int k = 0; k < H; ++k) s.update({0, 1}, {1000.0, 1.0});
  // Overwrite t=0's history entirely with 1.0: the old 1000s must be gone.
  for (int k = 0; k < H; ++k) s.update({0}, {1.0});
  const auto p = s.probabilities();
  EXPECT_DOUBLE_EQ(p[0], 0.5);
  EXPECT_DOUBLE_EQ(p[1], 0.5);
  // Partially overwritten: history {2, 1, 1} after one more loss of 2.
  s.update({0}, {2.0});
  const double r0 = std::sqrt((4.0 + 1 + 1) / 3);
  EXPECT_NEAR(s.probabilities()[0], r0 / (r0 + 1), 1e-15);
}

TEST(TimestepSampler, NonFiniteLossesAreIgnored) {
  tr::TimestepSampler s(tr::TimestepSampling::loss_aware, 1, 2, 0.0);
  s.update({0, 0}, {NAN, INFINITY});
  EXPECT_FALSE(s.warmed_up());
  s.update({0, 0, 5, -1}, {1.0, 2.0, 3.0, 4.0});  // out-of-range t ignored too
  EXPECT_TRUE(s.warmed_up());
}

TEST(TimestepSampler, StateRoundTripsThroughACheckpointFile) {
  const int T = 20, H = 4;
  tr::TimestepSampler a(tr::TimestepSampling::loss_aware, T, H, 0.01);
  tr::Rng rng(5);
  for (int k = 0; k < 100; ++k) a.update({static_cast<int32_t>(rng.below(T))}, {rng.uniform() * 10});
  Container c;
  c.kind = "checkpoint";
  nlohmann::json meta;
  a.save_state(c, "sampler/", meta);
  c.meta["sampler"] = meta;
  const auto path = std::filesystem::temp_directory_path() / ("mds_sampler_" + std::to_string(::getpid()) + ".mds");
  mds::write_container(path.string(), c);
  const Container back = mds::read_container(path.string(), "checkpoint");
  std::filesystem::remove(path);
  tr::TimestepSampler b(tr::TimestepSampling::loss_aware, T, H, 0.01);
  b.load_state(back, "sampler/", back.meta["sampler"]);
  EXPECT_EQ(a.warmed_up(), b.warmed_up());
  EXPECT_EQ(a.probabilities(), b.probabilities());
  tr::Rng r1(8), r2(8);
  std::vector<int32_t> t1, t2;
  std::vector<double> w1, w2;
  a.sample(r1, 100, t1, w1);
  b.sample(r2, 100, t2, w2);
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(w1, w2);
  // Mismatches are reported, not silently accepted.
  tr::TimestepSampler uni(tr::TimestepSampling::uniform, T);
  try {
    uni.load_state(back, "sampler/", back.meta["sampler"]);
    FAIL() << "kind mismatch accepted";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("timestep_sampler=loss_aware"), std::string::npos) << e.what();
  }
  tr::TimestepSampler other_t(tr::TimestepSampling::loss_aware, T + 1, H, 0.01);
  EXPECT_THROW(other_t.load_state(back, "sampler/", back.meta["sampler"]), mds::Error);
}
