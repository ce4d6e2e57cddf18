// Finite-difference checks (double precision) of the dense CPU operations:
// GEMM (BLAS and fallback), linear, grouped linear, activations, layer norm,
// softmax, row gather/scatter, position+time add, row combine, squared
// differences, dropout; plus AdamW and EMA against scalar references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "cpu/context.h"
#include "cpu/cpu_backend.h"
#include "cpu/ops.h"
#include "gradcheck.h"

namespace mds {
namespace {

using namespace testing_util;

constexpr double kTol = 1e-6;

class OpsBasic : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend(2, CpuPrecision::f64);
  std::mt19937_64 rng{1234};
};

// --threads reaches the BLAS library: making a backend sets OpenBLAS's own
// thread count (where the BLAS is OpenBLAS; others have no such control).
TEST(BlasThreads, FollowTheBackendThreadCount) {
  auto one = make_cpu_backend(1);
  if (cpu::blas_threads() == 0) GTEST_SKIP() << "the BLAS in use has no thread control (or no BLAS)";
  EXPECT_EQ(cpu::blas_threads(), 1);
  auto two = make_cpu_backend(2);
  EXPECT_EQ(cpu::blas_threads(), 2);
  EXPECT_TRUE(cpu::set_blas_threads(1));
  EXPECT_EQ(cpu::blas_threads(), 1);
}

TEST_F(OpsBasic, GemmFallbackMatchesBlasPathAllTransposes) {
  cpu::Context ctx(2);
  const int64_t M = 7, N = 5, K = 9;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      auto A = random_vec(rng, M * K), B = random_vec(rng, K * N), C0 = random_vec(rng, M * N);
      std::vector<double> C1 = C0, C2 = C0, ref(M * N);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t p = 0; p < K; ++p) s += (ta ? A[p * M + i] : A[i * K + p]) * (tb ? B[j * K + p] : B[p * N + j]);
          ref[i * N + j] = 0.5 * s + 0.25 * C0[i * N + j];
        }
      const int64_t lda = ta ? M : K, ldb = tb ? K : N;
      cpu::gemm_raw<double>(ctx, ta, tb, M, N, K, 0.5, A.data(), lda, B.data(), ldb, 0.25, C1.data(), N);
      cpu::gemm_reference<double>(ctx, ta, tb, M, N, K, 0.5, A.data(), lda, B.data(), ldb, 0.25, C2.data(), N);
      for (int64_t i = 0; i < M * N; ++i) {
        EXPECT_NEAR(C1[i], ref[i], 1e-12);
        EXPECT_NEAR(C2[i], ref[i], 1e-12);
      }
    }
}

TEST_F(OpsBasic, LinearGradients) {
  Tensor x = make_random(*be, rng, {6, 5}), W = make_random(*be, rng, {4, 5}), b = make_random(*be, rng, {4});
  Tensor y = be->alloc({6, 4});
  auto r = random_vec(rng, 24);
  auto loss = [&] {
    be->linear_forward(x, W, b, y);
    return dot(host(*be, y), r);
  };
  Tensor dy = make_real(*be, {6, 4}, r), dx = be->alloc({6, 5}), dW = be->alloc({4, 5}), db = be->alloc({4});
  be->linear_backward(x, W, dy, dx, dW, db);
  EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, W, host(*be, dW), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, b, host(*be, db), loss), kTol);
}

TEST_F(OpsBasic, GroupedLinearGradientsWithEmptyExpert) {
  const std::vector<int64_t> offsets = {0, 3, 3, 7};  // expert 1 receives nothing
  Tensor x = make_random(*be, rng, {7, 4}), W = make_random(*be, rng, {3, 5, 4}), b = make_random(*be, rng, {3, 5});
  Tensor y = be->alloc({7, 5});
  auto r = random_vec(rng, 35);
  auto loss = [&] {
    be->grouped_linear_forward(x, W, b, offsets, y);
    return dot(host(*be, y), r);
  };
  // Forward against per-row reference.
  loss();
  auto hx = host(*be, x), hW = host(*be, W), hb = host(*be, b), hy = host(*be, y);
  for (int s = 0; s < 7; ++s) {
    const int e = s < 3 ? 0 : 2;
    for (int o = 0; o < 5; ++o) {
      double v = hb[e * 5 + o];
      for (int i = 0; i < 4; ++i) v += hx[s * 4 + i] * hW[(e * 5 + o) * 4 + i];
      EXPECT_NEAR(hy[s * 5 + o], v, 1e-12);
    }
  }
  Tensor dy = make_real(*be, {7, 5}, r), dx = be->alloc({7, 4}), dW = be->alloc({3, 5, 4}), db = be->alloc({3, 5});
  be->grouped_linear_backward(x, W, dy, offsets, dx, dW, db, GradMode::add);
  EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, W, host(*be, dW), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, b, host(*be, db), loss), kTol);
  // Overwriting an uninitialised (NaN-poisoned) dx gives exactly what adding
  // into zeros gives; dW and db still add.
  Tensor dx_over = be->alloc_uninit({7, 4});
  be->grouped_linear_backward(x, W, dy, offsets, dx_over, dW, db, GradMode::overwrite);
  EXPECT_EQ(host(*be, dx_over), host(*be, dx));
  const auto hdW1 = host(*be, dW);
  Tensor dW_once = be->alloc({3, 5, 4}), db_once = be->alloc({3, 5}), dx_add = be->alloc({7, 4});
  be->grouped_linear_backward(x, W, dy, offsets, dx_add, dW_once, db_once, GradMode::add);
  const auto once = host(*be, dW_once);
  for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(hdW1[i], 2 * once[i], 1e-12) << "dW adds in overwrite mode";
}

TEST_F(OpsBasic, ActivationGradients) {
  for (Activation act : {Activation::tanh, Activation::silu, Activation::gelu}) {
    Tensor x = make_random(*be, rng, {5, 6}, 1.5), y = be->alloc({5, 6});
    auto r = random_vec(rng, 30);
    auto loss = [&] {
      be->activation_forward(act, x, y);
      return dot(host(*be, y), r);
    };
    loss();
    Tensor dy = make_real(*be, {5, 6}, r), dx = be->alloc({5, 6});
    be->activation_backward(act, x, y, dy, dx, GradMode::add);
    EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss), kTol);
    loss();  // the gradient check leaves y at its last perturbed x; tanh's backward reads y
    Tensor dx_over = be->alloc_uninit({5, 6});  // NaN-poisoned: must not be read
    be->activation_backward(act, x, y, dy, dx_over, GradMode::overwrite);
    EXPECT_EQ(host(*be, dx_over), host(*be, dx));
    be->activation_backward(act, x, y, dy, dx, GradMode::add);  // adds: twice the gradient
    const auto once = host(*be, dx_over), twice = host(*be, dx);
    for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-12);
  }
  // GELU is the exact erf form: gelu(1) = 0.5 (1 + erf(1/sqrt 2)).
  Tensor x = make_real(*be, {1}, {1.0}), y = be->alloc({1});
  be->activation_forward(Activation::gelu, x, y);
  EXPECT_NEAR(host(*be, y)[0], 0.8413447460685429, 1e-12);
}

TEST_F(OpsBasic, LayerNormGradients) {
  Tensor x = make_random(*be, rng, {4, 7}, 2.0), g = make_random(*be, rng, {7}), b = make_random(*be, rng, {7});
  Tensor y = be->alloc({4, 7}), mean = be->alloc({4}), rstd = be->alloc({4});
  auto r = random_vec(rng, 28);
  auto loss = [&] {
    be->layer_norm_forward(x, g, b, 1e-12, y, mean, rstd);
    return dot(host(*be, y), r);
  };
  loss();
  Tensor dy = make_real(*be, {4, 7}, r), dx = be->alloc({4, 7}), dg = be->alloc({7}), db = be->alloc({7});
  be->layer_norm_backward(x, g, mean, rstd, dy, dx, dg, db);
  EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, g, host(*be, dg), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, b, host(*be, db), loss), kTol);
}

TEST_F(OpsBasic, SoftmaxGradients) {
  Tensor x = make_random(*be, rng, {5, 4}, 2.0), y = be->alloc({5, 4});
  auto r = random_vec(rng, 20);
  auto loss = [&] {
    be->softmax_forward(x, y);
    return dot(host(*be, y), r);
  };
  loss();
  auto hy = host(*be, y);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(hy[i * 4] + hy[i * 4 + 1] + hy[i * 4 + 2] + hy[i * 4 + 3], 1.0, 1e-12);
  Tensor dy = make_real(*be, {5, 4}, r), dx = be->alloc({5, 4});
  be->softmax_backward(y, dy, dx);
  EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss), kTol);
}

TEST_F(OpsBasic, GatherScatterGradientsWithRepeats) {
  Tensor table = make_random(*be, rng, {6, 3});
  Tensor ids = make_i32(*be, {7}, {0, 5, 2, 2, 5, 1, 2});
  Tensor out = be->alloc({7, 3});
  auto r = random_vec(rng, 21);
  auto loss = [&] {
    be->gather_rows(table, ids, out);
    return dot(host(*be, out), r);
  };
  Tensor dout = make_real(*be, {7, 3}, r), dtable = be->alloc({6, 3});
  be->scatter_add_rows(dout, ids, dtable);
  EXPECT_GRAD_OK(check_gradient(*be, table, host(*be, dtable), loss), kTol);
  Tensor bad = make_i32(*be, {1}, {6});
  Tensor o1 = be->alloc({1, 3});
  EXPECT_THROW(be->gather_rows(table, bad, o1), Error);
}

TEST_F(OpsBasic, PositionTimeGradients) {
  const int B = 2, L = 3, H = 4;
  Tensor x = make_random(*be, rng, {B * L, H}), pos = make_random(*be, rng, {5, H}), temb = make_random(*be, rng, {B, H});
  Tensor out = be->alloc({B * L, H});
  auto r = random_vec(rng, B * L * H);
  auto loss = [&] {
    be->add_position_time_forward(x, pos, temb, B, L, out);
    return dot(host(*be, out), r);
  };
  Tensor dout = make_real(*be, {B * L, H}, r), dpos = be->alloc({5, H}), dtemb = be->alloc({B, H});
  be->add_position_time_backward(dout, B, L, dpos, dtemb);
  EXPECT_GRAD_OK(check_gradient(*be, pos, host(*be, dpos), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, temb, host(*be, dtemb), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, x, r, loss), kTol);  // dx is dout itself
}

TEST_F(OpsBasic, RowCombineGradients) {
  Tensor x = make_random(*be, rng, {5, 3}), m = make_random(*be, rng, {3}), e = make_random(*be, rng, {5, 3});
  Tensor ax = make_random(*be, rng, {5}), am = make_random(*be, rng, {5}), ae = make_random(*be, rng, {5});
  Tensor out = be->alloc({5, 3});
  auto r = random_vec(rng, 15);
  auto loss = [&] {
    be->row_combine_forward(x, ax, m, am, e, ae, out);
    return dot(host(*be, out), r);
  };
  Tensor dout = make_real(*be, {5, 3}, r), dx = be->alloc({5, 3}), dm = be->alloc({3}), de = be->alloc({5, 3});
  be->row_combine_backward(dout, ax, am, ae, dx, dm, de);
  EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, m, host(*be, dm), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, e, host(*be, de), loss), kTol);
}

TEST_F(OpsBasic, RowSqDiffGradients) {
  Tensor a = make_random(*be, rng, {4, 6}), b = make_random(*be, rng, {4, 6}), out = be->alloc({4});
  auto r = random_vec(rng, 4);
  auto loss = [&] {
    be->row_sq_diff_forward(a, b, out);
    return dot(host(*be, out), r);
  };
  Tensor drow = make_real(*be, {4}, r), da = be->alloc({4, 6}), db = be->alloc({4, 6});
  be->row_sq_diff_backward(a, b, drow, da, db);
  EXPECT_GRAD_OK(check_gradient(*be, a, host(*be, da), loss), kTol);
  EXPECT_GRAD_OK(check_gradient(*be, b, host(*be, db), loss), kTol);
  // b undefined means zero.
  Tensor none, da2 = be->alloc({4, 6});
  auto loss0 = [&] {
    be->row_sq_diff_forward(a, none, out);
    return dot(host(*be, out), r);
  };
  be->row_sq_diff_backward(a, none, drow, da2, none);
  EXPECT_GRAD_OK(check_gradient(*be, a, host(*be, da2), loss0), kTol);
}

TEST_F(OpsBasic, DropoutIsDeterministicInvertedAndDifferentiable) {
  const int R = 64, C = 32;
  std::vector<uint64_t> keys(R);
  for (int i = 0; i < R; ++i) keys[i] = 1000 + i;
  Tensor k = be->alloc({R}, ElemType::u64);
  be->upload(k, keys.data());
  Tensor x = make_random(*be, rng, {R, C}), y = be->alloc({R, C}), mask = be->alloc({R, C}, ElemType::u8);
  auto r = random_vec(rng, R * C);
  auto loss = [&] {
    be->dropout_forward(x, 0.25, k, 99, y, mask);
    return dot(host(*be, y), r);
  };
  loss();
  auto hx = host(*be, x), hy = host(*be, y);
  int dropped = 0;
  for (int i = 0; i < R * C; ++i) {
    if (hy[i] == 0) ++dropped;
    else EXPECT_NEAR(hy[i], hx[i] / 0.75, 1e-12);
  }
  EXPECT_NEAR(dropped / double(R * C), 0.25, 0.03);
  Tensor dy = make_real(*be, {R, C}, r), dx = be->alloc({R, C});
  be->dropout_backward(dy, mask, 0.25, dx);
  EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss), kTol);
}

TEST_F(OpsBasic, GaussianFillMomentsAndThreadIndependence) {
  const int R = 256, C = 64;
  std::vector<uint64_t> keys(R);
  for (int i = 0; i < R; ++i) keys[i] = 77 * i + 5;
  auto draw = [&](Backend& b) {
    Tensor k = b.alloc({R}, ElemType::u64);
    b.upload(k, keys.data());
    Tensor out = b.alloc({R, C});
    b.gaussian_fill(k, 3, out);
    return host(b, out);
  };
  auto one = make_cpu_backend(1, CpuPrecision::f64);
  auto a = draw(*be), b = draw(*one);
  EXPECT_EQ(a, b);
  double s = 0, s2 = 0;
  for (double v : a) s += v, s2 += v * v;
  const double mean = s / a.size(), var = s2 / a.size() - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 1.0, 0.03);
}

TEST_F(OpsBasic, AdamWMatchesScalarReference) {
  auto p0 = random_vec(rng, 10), g = random_vec(rng, 10);
  Tensor p = make_real(*be, {10}, p0), gt = make_real(*be, {10}, g), m = be->alloc({10}), v = be->alloc({10});
  AdamWParams ap;
  ap.lr = 0.01;
  ap.weight_decay = 0.1;
  std::vector<double> rp = p0, rm(10, 0), rv(10, 0);
  for (int step = 1; step <= 3; ++step) {
    ap.step = step;
    be->adamw_step(p, gt, m, v, ap);
    for (int i = 0; i < 10; ++i) {
      rp[i] *= 1 - ap.lr * ap.weight_decay;
      rm[i] = 0.9 * rm[i] + 0.1 * g[i];
      rv[i] = 0.999 * rv[i] + 0.001 * g[i] * g[i];
      const double mh = rm[i] / (1 - std::pow(0.9, step)), vh = rv[i] / (1 - std::pow(0.999, step));
      rp[i] -= ap.lr * mh / (std::sqrt(vh) + ap.eps);
    }
  }
  auto hp = host(*be, p);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(hp[i], rp[i], 1e-10);
  Tensor e = make_real(*be, {10}, g);
  be->ema_update(e, p, 0.9);
  auto he = host(*be, e);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(he[i], 0.9 * g[i] + 0.1 * rp[i], 1e-12);
}

TEST_F(OpsBasic, SumSquaresFlagsNonFinite) {
  Tensor x = make_real(*be, {3}, {1.0, 2.0, 2.0});
  EXPECT_DOUBLE_EQ(be->sum_squares(x), 9.0);
  Tensor y = make_real(*be, {2}, {1.0, std::nan("")});
  EXPECT_FALSE(std::isfinite(be->sum_squares(y)));
}

}  // namespace
}  // namespace mds
