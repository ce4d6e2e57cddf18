// Tests of the layer norm kernels against a double-precision CPU reference:
// forward output and statistics, input gradient, and accumulated parameter
// gradients, with poisoned outputs.
#include <gtest/gtest.h>

#ifdef MDS_HAVE_CUDA

#include <cmath>
#include <cstdio>
#include <random>

#include "cuda_test_util.h"
#include "kernels/layernorm.h"

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

class CudaLayerNorm : public GpuTest {};

TEST_F(CudaLayerNorm, ForwardBackwardMatchReference) {
  for (auto [rows, cols] : {std::pair{300, 768}, std::pair{37, 100}}) {
    std::mt19937 rng(rows + cols);
    const float eps = 1e-12f;
    auto x = random_bf16_values(rng, size_t(rows) * cols, -3.f, 3.f);
    auto dy = random_bf16_values(rng, size_t(rows) * cols);
    auto gamma = random_floats(rng, cols, 0.5f, 1.5f), beta = random_floats(rng, cols, -0.5f, 0.5f);
    auto dg0 = random_floats(rng, cols), db0 = random_floats(rng, cols);  // existing gradients (accumulate)
    std::vector<double> y(x.size()), mean(rows), rstd(rows), dx(x.size());
    std::vector<double> dg(dg0.begin(), dg0.end()), db(db0.begin(), db0.end());
    for (int r = 0; r < rows; ++r) {
      const float* xr = &x[size_t(r) * cols];
      double mu = 0, var = 0;
      for (int c = 0; c < cols; ++c) mu += xr[c];
      mu /= cols;
      for (int c = 0; c < cols; ++c) var += (xr[c] - mu) * (xr[c] - mu);
      var /= cols;
      const double rs = 1.0 / std::sqrt(var + eps);
      mean[r] = mu;
      rstd[r] = rs;
      double mg = 0, mgx = 0;
      for (int c = 0; c < cols; ++c) {
        const double xh = (xr[c] - mu) * rs, d = dy[size_t(r) * cols + c];
        y[size_t(r) * cols + c] = xh * gamma[c] + beta[c];
        mg += d * gamma[c];
        mgx += d * gamma[c] * xh;
        dg[c] += d * xh;
        db[c] += d;
      }
      mg /= cols;
      mgx /= cols;
      for (int c = 0; c < cols; ++c) {
        const double xh = (xr[c] - mu) * rs, g = dy[size_t(r) * cols + c] * gamma[c];
        dx[size_t(r) * cols + c] = rs * (g - mg - xh * mgx);
      }
    }
    DeviceBuffer dX = upload_bf16(ctx(), x), dDY = upload_bf16(ctx(), dy), dGam = upload(ctx(), gamma),
                 dBet = upload(ctx(), beta), dDG = upload(ctx(), dg0), dDB = upload(ctx(), db0);
    DeviceBuffer dYo = poisoned(ctx(), x.size() * 2), dMean = poisoned(ctx(), rows * 4),
                 dRstd = poisoned(ctx(), rows * 4), dDX = poisoned(ctx(), x.size() * 2);
    layernorm_forward(ctx(), dX.as<bf16>(), dGam.as<float>(), dBet.as<float>(), dYo.as<bf16>(), dMean.as<float>(),
                      dRstd.as<float>(), rows, cols, eps);
    layernorm_backward(ctx(), dX.as<bf16>(), dGam.as<float>(), dMean.as<float>(), dRstd.as<float>(), dDY.as<bf16>(),
                       dDX.as<bf16>(), dDG.as<float>(), dDB.as<float>(), rows, cols);
    const double ey = rel_err(download_bf16(ctx(), dYo, x.size()), y);
    const double em = rel_err(download<float>(ctx(), dMean, rows), mean);
    const double er = rel_err(download<float>(ctx(), dRstd, rows), rstd);
    const double ex = rel_err(download_bf16(ctx(), dDX, x.size()), dx);
    const double eg = rel_err(download<float>(ctx(), dDG, cols), dg);
    const double eb = rel_err(download<float>(ctx(), dDB, cols), db);
    std::printf("  layernorm %dx%d: y %.2e mean %.2e rstd %.2e dx %.2e dgamma %.2e dbeta %.2e\n", rows, cols, ey, em,
                er, ex, eg, eb);
    EXPECT_LT(ey, kTolBf16);
    EXPECT_LT(em, kTolF32);
    EXPECT_LT(er, kTolF32);
    EXPECT_LT(ex, kTolBf16);
    EXPECT_LT(eg, kTolF32);
    EXPECT_LT(eb, kTolF32);
    // A second backward with accumulate: dx doubles, the parameter increments double.
    layernorm_backward(ctx(), dX.as<bf16>(), dGam.as<float>(), dMean.as<float>(), dRstd.as<float>(), dDY.as<bf16>(),
                       dDX.as<bf16>(), dDG.as<float>(), dDB.as<float>(), rows, cols, /*accumulate=*/true);
    for (auto& v : dx) v *= 2;
    for (int c = 0; c < cols; ++c) {
      dg[c] = dg0[c] + 2 * (dg[c] - dg0[c]);
      db[c] = db0[c] + 2 * (db[c] - db0[c]);
    }
    EXPECT_LT(rel_err(download_bf16(ctx(), dDX, x.size()), dx), kTolBf16);
    EXPECT_LT(rel_err(download<float>(ctx(), dDG, cols), dg), kTolF32);
    EXPECT_LT(rel_err(download<float>(ctx(), dDB, cols), db), kTolF32);
  }
}

}  // namespace

#else
TEST(CudaLayerNorm, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
