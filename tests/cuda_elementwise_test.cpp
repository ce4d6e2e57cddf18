// Tests of the element-wise, softmax, MSE and embedding kernels against CPU
// references on random inputs with poisoned outputs.
#include <gtest/gtest.h>

#ifdef MDS_HAVE_CUDA

#include <cmath>
#include <cstdio>
#include <random>

#include "cuda_test_util.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/mse.h"
#include "kernels/softmax.h"

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

class CudaElementwise : public GpuTest {};

double act_ref(Activation a, double x) {
  switch (a) {
    case Activation::gelu: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::silu: return x / (1 + std::exp(-x));
    default: return std::tanh(x);
  }
}
double act_grad_ref(Activation a, double x) {
  switch (a) {
    case Activation::gelu: return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    case Activation::silu: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 + x * (1 - s));
    }
    default: return 1 - std::tanh(x) * std::tanh(x);
  }
}

TEST_F(CudaElementwise, Activations) {
  std::mt19937 rng(1);
  const size_t n = 10007;
  for (Activation a : {Activation::gelu, Activation::silu, Activation::tanh}) {
    auto x = random_bf16_values(rng, n, -4.f, 4.f), dy = random_bf16_values(rng, n);
    std::vector<double> y(n), dx(n);
    for (size_t i = 0; i < n; ++i) {
      y[i] = act_ref(a, x[i]);
      dx[i] = dy[i] * act_grad_ref(a, x[i]);
    }
    DeviceBuffer dX = upload_bf16(ctx(), x), dDY = upload_bf16(ctx(), dy);
    DeviceBuffer dY = poisoned(ctx(), n * 2), dDX = poisoned(ctx(), n * 2);
    activation_forward(ctx(), a, dX.as<bf16>(), dY.as<bf16>(), n);
    activation_backward(ctx(), a, dX.as<bf16>(), dDY.as<bf16>(), dDX.as<bf16>(), n);
    const double ey = rel_err(download_bf16(ctx(), dY, n), y), ed = rel_err(download_bf16(ctx(), dDX, n), dx);
    activation_backward(ctx(), a, dX.as<bf16>(), dDY.as<bf16>(), dDX.as<bf16>(), n, /*accumulate=*/true);
    for (auto& v : dx) v *= 2;
    const double ea = rel_err(download_bf16(ctx(), dDX, n), dx);
    std::printf("  activation %d: y %.2e dx %.2e dx(accumulated) %.2e\n", int(a), ey, ed, ea);
    EXPECT_LT(ey, kTolBf16);
    EXPECT_LT(ed, kTolBf16);
    EXPECT_LT(ea, kTolBf16);
  }
}

TEST_F(CudaElementwise, BiasAddAndGrad) {
  std::mt19937 rng(2);
  const int rows = 700, cols = 200;
  auto x = random_bf16_values(rng, size_t(rows) * cols), bias = random_floats(rng, cols);
  auto db0 = random_floats(rng, cols);
  std::vector<double> y(x.size()), db(db0.begin(), db0.end());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      y[size_t(r) * cols + c] = x[size_t(r) * cols + c] + bias[c];
      db[c] += x[size_t(r) * cols + c];
    }
  DeviceBuffer dX = upload_bf16(ctx(), x), dB = upload(ctx(), bias), dDB = upload(ctx(), db0);
  DeviceBuffer dY = poisoned(ctx(), x.size() * 2);
  bias_add(ctx(), dX.as<bf16>(), dB.as<float>(), dY.as<bf16>(), rows, cols);
  bias_grad(ctx(), dX.as<bf16>(), dDB.as<float>(), rows, cols);
  EXPECT_LT(rel_err(download_bf16(ctx(), dY, x.size()), y), kTolBf16);
  EXPECT_LT(rel_err(download<float>(ctx(), dDB, cols), db), kTolF32);
}

TEST_F(CudaElementwise, CastsAddAxpyScaleFill) {
  std::mt19937 rng(3);
  const size_t n = 4099;
  auto a = random_floats(rng, n, -5.f, 5.f), b = random_bf16_values(rng, n), c = random_bf16_values(rng, n);
  auto y0 = random_floats(rng, n);
  DeviceBuffer dA = upload(ctx(), a), dB = upload_bf16(ctx(), b), dC = upload_bf16(ctx(), c), dY = upload(ctx(), y0);
  DeviceBuffer dAb = poisoned(ctx(), n * 2), dBf = poisoned(ctx(), n * 4), dSum = poisoned(ctx(), n * 2);
  DeviceBuffer dF = poisoned(ctx(), n * 4), dFb = poisoned(ctx(), n * 2);
  cast_f32_to_bf16(ctx(), dA.as<float>(), dAb.as<bf16>(), n);
  cast_bf16_to_f32(ctx(), dB.as<bf16>(), dBf.as<float>(), n);
  add(ctx(), dB.as<bf16>(), dC.as<bf16>(), dSum.as<bf16>(), n);
  axpy(ctx(), 0.5f, dA.as<float>(), dY.as<float>(), n);
  scale(ctx(), dY.as<float>(), -2.f, n);
  fill(ctx(), dF.as<float>(), 3.25f, n);
  fill(ctx(), dFb.as<bf16>(), -1.5f, n);
  // n = 4099 takes the scalar cast; a multiple of 4 on aligned buffers the vectorised one.
  const size_t n4 = 4096;
  DeviceBuffer dAb4 = poisoned(ctx(), n4 * 2);
  cast_f32_to_bf16(ctx(), dA.as<float>(), dAb4.as<bf16>(), n4);
  auto ab4 = download_bf16(ctx(), dAb4, n4);
  for (size_t i = 0; i < n4; ++i) EXPECT_EQ(ab4[i], bf16_to_float(float_to_bf16(a[i]))) << i;
  auto ab = download_bf16(ctx(), dAb, n), bf = download<float>(ctx(), dBf, n), sum = download_bf16(ctx(), dSum, n);
  auto y = download<float>(ctx(), dY, n), f = download<float>(ctx(), dF, n), fb = download_bf16(ctx(), dFb, n);
  std::vector<double> r_ab(n), r_sum(n), r_y(n);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(ab[i], bf16_to_float(float_to_bf16(a[i]))) << i;  // same rounding on host and device
    EXPECT_EQ(bf[i], b[i]) << i;
    r_sum[i] = double(b[i]) + c[i];
    r_y[i] = -2.0 * (y0[i] + 0.5 * a[i]);
    EXPECT_EQ(f[i], 3.25f);
    EXPECT_EQ(fb[i], -1.5f);
  }
  EXPECT_LT(rel_err(sum, r_sum), kTolBf16);
  EXPECT_LT(rel_err(y, r_y), kTolF32);
}

TEST_F(CudaElementwise, SoftmaxForwardBackward) {
  std::mt19937 rng(4);
  for (auto [rows, cols] : {std::pair{129, 8}, std::pair{50, 1000}}) {
    auto x = random_floats(rng, size_t(rows) * cols, -6.f, 6.f), dy = random_floats(rng, x.size());
    std::vector<double> y(x.size()), dx(x.size());
    for (int r = 0; r < rows; ++r) {
      double mx = -1e300, s = 0, dot = 0;
      for (int c = 0; c < cols; ++c) mx = std::max(mx, double(x[size_t(r) * cols + c]));
      for (int c = 0; c < cols; ++c) s += std::exp(x[size_t(r) * cols + c] - mx);
      for (int c = 0; c < cols; ++c) y[size_t(r) * cols + c] = std::exp(x[size_t(r) * cols + c] - mx) / s;
      for (int c = 0; c < cols; ++c) dot += y[size_t(r) * cols + c] * dy[size_t(r) * cols + c];
      for (int c = 0; c < cols; ++c) dx[size_t(r) * cols + c] = y[size_t(r) * cols + c] * (dy[size_t(r) * cols + c] - dot);
    }
    // fp32 path
    DeviceBuffer dX = upload(ctx(), x), dDY = upload(ctx(), dy);
    DeviceBuffer dY = poisoned(ctx(), x.size() * 4), dDX = poisoned(ctx(), x.size() * 4);
    softmax_forward(ctx(), dX.as<float>(), dY.as<float>(), rows, cols);
    softmax_backward(ctx(), dY.as<float>(), dDY.as<float>(), dDX.as<float>(), rows, cols);
    const double ey = rel_err(download<float>(ctx(), dY, x.size()), y);
    const double ed = rel_err(download<float>(ctx(), dDX, x.size()), dx);
    softmax_backward(ctx(), dY.as<float>(), dDY.as<float>(), dDX.as<float>(), rows, cols, /*accumulate=*/true);
    for (auto& v : dx) v *= 2;
    EXPECT_LT(rel_err(download<float>(ctx(), dDX, x.size()), dx), kTolF32);
    // bf16 path (inputs rounded to bf16 on both sides)
    auto xb = x;
    for (auto& v : xb) v = bf16_to_float(float_to_bf16(v));
    std::vector<double> yb(x.size());
    for (int r = 0; r < rows; ++r) {
      double mx = -1e300, s = 0;
      for (int c = 0; c < cols; ++c) mx = std::max(mx, double(xb[size_t(r) * cols + c]));
      for (int c = 0; c < cols; ++c) s += std::exp(xb[size_t(r) * cols + c] - mx);
      for (int c = 0; c < cols; ++c) yb[size_t(r) * cols + c] = std::exp(xb[size_t(r) * cols + c] - mx) / s;
    }
    DeviceBuffer dXb = upload_bf16(ctx(), xb), dYb = poisoned(ctx(), x.size() * 2);
    softmax_forward(ctx(), dXb.as<bf16>(), dYb.as<bf16>(), rows, cols);
    const double eyb = rel_err(download_bf16(ctx(), dYb, x.size()), yb);
    std::printf("  softmax %dx%d: y %.2e dx %.2e y(bf16) %.2e\n", rows, cols, ey, ed, eyb);
    EXPECT_LT(ey, kTolF32);
    EXPECT_LT(ed, kTolF32);
    EXPECT_LT(eyb, kTolBf16);
  }
}

TEST_F(CudaElementwise, MseForwardBackward) {
  std::mt19937 rng(5);
  const int rows = 333, cols = 128;
  auto a = random_bf16_values(rng, size_t(rows) * cols), b = random_bf16_values(rng, size_t(rows) * cols);
  auto g = random_floats(rng, rows);
  std::vector<double> loss(rows), da(a.size()), db(a.size());
  for (int r = 0; r < rows; ++r) {
    double s = 0;
    for (int c = 0; c < cols; ++c) {
      const double d = double(a[size_t(r) * cols + c]) - b[size_t(r) * cols + c];
      s += d * d;
      da[size_t(r) * cols + c] = g[r] * 2 * d / cols;
      db[size_t(r) * cols + c] = -g[r] * 2 * d / cols;
    }
    loss[r] = s / cols;
  }
  DeviceBuffer dA = upload_bf16(ctx(), a), dB = upload_bf16(ctx(), b), dG = upload(ctx(), g);
  DeviceBuffer dL = poisoned(ctx(), rows * 4), dDA = poisoned(ctx(), a.size() * 2), dDB = poisoned(ctx(), a.size() * 2);
  mse_forward(ctx(), dA.as<bf16>(), dB.as<bf16>(), dL.as<float>(), rows, cols);
  mse_backward(ctx(), dA.as<bf16>(), dB.as<bf16>(), dG.as<float>(), dDA.as<bf16>(), dDB.as<bf16>(), rows, cols);
  EXPECT_LT(rel_err(download<float>(ctx(), dL, rows), loss), kTolF32);
  EXPECT_LT(rel_err(download_bf16(ctx(), dDA, a.size()), da), kTolBf16);
  EXPECT_LT(rel_err(download_bf16(ctx(), dDB, a.size()), db), kTolBf16);
  mse_backward(ctx(), dA.as<bf16>(), dB.as<bf16>(), dG.as<float>(), dDA.as<bf16>(), dDB.as<bf16>(), rows, cols,
               /*accumulate=*/true);
  for (auto* v : {&da, &db})
    for (auto& x : *v) x *= 2;
  EXPECT_LT(rel_err(download_bf16(ctx(), dDA, a.size()), da), kTolBf16);
  EXPECT_LT(rel_err(download_bf16(ctx(), dDB, a.size()), db), kTolBf16);
  // fp32 variant
  auto af = random_floats(rng, a.size()), bf = random_floats(rng, a.size());
  std::vector<double> lf(rows), daf(a.size());
  for (int r = 0; r < rows; ++r) {
    double s = 0;
    for (int c = 0; c < cols; ++c) {
      const double d = double(af[size_t(r) * cols + c]) - bf[size_t(r) * cols + c];
      s += d * d;
      daf[size_t(r) * cols + c] = g[r] * 2 * d / cols;
    }
    lf[r] = s / cols;
  }
  DeviceBuffer fA = upload(ctx(), af), fB = upload(ctx(), bf), fL = poisoned(ctx(), rows * 4),
               fDA = poisoned(ctx(), a.size() * 4);
  mse_forward(ctx(), fA.as<float>(), fB.as<float>(), fL.as<float>(), rows, cols);
  mse_backward(ctx(), fA.as<float>(), fB.as<float>(), dG.as<float>(), fDA.as<float>(), nullptr, rows, cols);
  EXPECT_LT(rel_err(download<float>(ctx(), fL, rows), lf), kTolF32);
  EXPECT_LT(rel_err(download<float>(ctx(), fDA, a.size()), daf), kTolF32);
}

TEST_F(CudaElementwise, EmbeddingGatherAndScatterAdd) {
  std::mt19937 rng(6);
  const int tokens = 3000, vocab = 257, dim = 128;
  std::vector<int32_t> ids(tokens);
  for (auto& i : ids) i = int(rng() % vocab);
  ids[5] = -1;     // ignored on both sides
  ids[6] = vocab;  // out of range: zero row, no gradient
  auto table = random_floats(rng, size_t(vocab) * dim), dout = random_bf16_values(rng, size_t(tokens) * dim);
  auto dtab0 = random_floats(rng, table.size());
  std::vector<double> out(size_t(tokens) * dim, 0.0), dtab(dtab0.begin(), dtab0.end());
  for (int t = 0; t < tokens; ++t) {
    if (ids[t] < 0 || ids[t] >= vocab) continue;
    for (int c = 0; c < dim; ++c) {
      out[size_t(t) * dim + c] = table[size_t(ids[t]) * dim + c];
      dtab[size_t(ids[t]) * dim + c] += dout[size_t(t) * dim + c];
    }
  }
  DeviceBuffer dT = upload(ctx(), table), dI = upload(ctx(), ids), dDO = upload_bf16(ctx(), dout),
               dDT = upload(ctx(), dtab0);
  DeviceBuffer dO = poisoned(ctx(), out.size() * 2), dOb = poisoned(ctx(), out.size() * 2);
  DeviceBuffer dTb = upload_bf16(ctx(), table);
  embedding_forward(ctx(), dT.as<float>(), dI.as<int32_t>(), dO.as<bf16>(), tokens, vocab, dim);
  embedding_forward(ctx(), dTb.as<bf16>(), dI.as<int32_t>(), dOb.as<bf16>(), tokens, vocab, dim);
  embedding_backward(ctx(), dI.as<int32_t>(), dDO.as<bf16>(), dDT.as<float>(), tokens, vocab, dim);
  const double eo = rel_err(download_bf16(ctx(), dO, out.size()), out);
  const double eob = rel_err(download_bf16(ctx(), dOb, out.size()), out);
  auto g1 = download<float>(ctx(), dDT, dtab.size());
  const double eg = rel_err(g1, dtab);
  std::printf("  embedding: gather %.2e gather(bf16 table) %.2e scatter-add %.2e\n", eo, eob, eg);
  EXPECT_LT(eo, kTolBf16);
  EXPECT_LT(eob, kTolBf16);
  EXPECT_LT(eg, kTolF32);
  // Deterministic: a second run from the same start gives identical bits.
  DeviceBuffer dDT2 = upload(ctx(), dtab0);
  embedding_backward(ctx(), dI.as<int32_t>(), dDO.as<bf16>(), dDT2.as<float>(), tokens, vocab, dim);
  EXPECT_EQ(download<float>(ctx(), dDT2, dtab.size()), g1);
}

}  // namespace

#else
TEST(CudaElementwise, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
