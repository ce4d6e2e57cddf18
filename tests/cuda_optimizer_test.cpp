// Tests of AdamW (against PyTorch's update written out in double), EMA and the
// deterministic sum of squares used for gradient clipping.
#include <gtest/gtest.h>

#ifdef MDS_HAVE_CUDA

#include <cmath>
#include <random>

#include "cuda_test_util.h"
#include "kernels/optimizer.h"

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

class CudaOptimizer : public GpuTest {};

TEST_F(CudaOptimizer, AdamWMatchesReferenceOverSteps) {
  std::mt19937 rng(1);
  const size_t n = 5000;
  auto p = random_floats(rng, n), m0 = random_floats(rng, n, -0.01f, 0.01f), v0 = random_floats(rng, n, 0.f, 1e-3f);
  std::vector<double> rp(p.begin(), p.end()), rm(m0.begin(), m0.end()), rv(v0.begin(), v0.end());
  DeviceBuffer dP = upload(ctx(), p), dM = upload(ctx(), m0), dV = upload(ctx(), v0), dPb = poisoned(ctx(), n * 2);
  AdamWHyper hp;
  hp.lr = 1e-3f;
  hp.weight_decay = 0.01f;
  for (int step = 1; step <= 3; ++step) {
    auto g = random_floats(rng, n);
    DeviceBuffer dG = upload(ctx(), g);
    hp.step = step;
    adamw_step(ctx(), hp, dP.as<float>(), dG.as<float>(), dM.as<float>(), dV.as<float>(), dPb.as<bf16>(), n);
    const double b1 = hp.beta1, b2 = hp.beta2, bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    for (size_t i = 0; i < n; ++i) {
      rp[i] *= 1 - double(hp.lr) * hp.weight_decay;
      rm[i] = b1 * rm[i] + (1 - b1) * g[i];
      rv[i] = b2 * rv[i] + (1 - b2) * double(g[i]) * g[i];
      rp[i] -= hp.lr / bc1 * rm[i] / (std::sqrt(rv[i]) / std::sqrt(bc2) + hp.eps);
    }
  }
  auto P = download<float>(ctx(), dP, n);
  EXPECT_LT(rel_err(P, rp), kTolF32);
  EXPECT_LT(rel_err(download<float>(ctx(), dM, n), rm), kTolF32);
  EXPECT_LT(rel_err(download<float>(ctx(), dV, n), rv), kTolF32);
  auto Pb = download_bf16(ctx(), dPb, n);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(Pb[i], bf16_to_float(float_to_bf16(P[i]))) << i;
}

TEST_F(CudaOptimizer, EmaAndSumSquares) {
  std::mt19937 rng(2);
  const size_t n = 300001;
  auto p = random_floats(rng, n), e = random_floats(rng, n);
  std::vector<double> re(n);
  double ss = 0;
  for (size_t i = 0; i < n; ++i) {
    re[i] = 0.999 * e[i] + (1 - 0.999) * p[i];
    ss += double(p[i]) * p[i];
  }
  DeviceBuffer dP = upload(ctx(), p), dE = upload(ctx(), e), dS = poisoned(ctx(), 8);
  ema_update(ctx(), 0.999f, dP.as<float>(), dE.as<float>(), n);
  sum_squares(ctx(), dP.as<float>(), n, dS.as<double>());
  EXPECT_LT(rel_err(download<float>(ctx(), dE, n), re), kTolF32);
  const double got = download<double>(ctx(), dS, 1)[0];
  EXPECT_NEAR(got, ss, 1e-9 * ss);
  // Non-finite input makes the sum non-finite (clipping then skips the step).
  p[12345] = INFINITY;
  DeviceBuffer dP2 = upload(ctx(), p);
  sum_squares(ctx(), dP2.as<float>(), n, dS.as<double>());
  EXPECT_FALSE(std::isfinite(download<double>(ctx(), dS, 1)[0]));
}

}  // namespace

#else
TEST(CudaOptimizer, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
