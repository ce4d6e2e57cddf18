// Rounding cross-entropy against the tied embedding (values, gradients, row
// blocks, skipped rows) and the rounding helpers (nearest embedding, argmax).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "cpu/cpu_backend.h"
#include "gradcheck.h"

namespace mds {
namespace {

using namespace testing_util;

class OpsLoss : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend(2, CpuPrecision::f64);
  std::mt19937_64 rng{11};
};

TEST_F(OpsLoss, TiedCrossEntropyValuesAndGradients) {
  // 300 rows spans three row blocks; every third row has weight 0 (skipped).
  const int N = 300, d = 4, V = 9;
  std::vector<int32_t> tg(N);
  std::vector<double> w(N);
  for (int i = 0; i < N; ++i) tg[i] = (i * 7) % V, w[i] = i % 3 == 0 ? 0.0 : 0.5 + (i % 5) * 0.1;
  Tensor x = make_random(*be, rng, {N, d}), E = make_random(*be, rng, {V, d}), bias = make_random(*be, rng, {V});
  Tensor targets = make_i32(*be, {N}, tg), weight = make_real(*be, {N}, w), nll = be->alloc({N});
  auto loss = [&] {
    be->tied_ce_forward(x, E, bias, targets, weight, nll);
    return dot(host(*be, nll), w);
  };
  loss();
  auto hx = host(*be, x), hE = host(*be, E), hb = host(*be, bias), hn = host(*be, nll);
  for (int r = 0; r < N; ++r) {
    if (w[r] == 0) {
      EXPECT_EQ(hn[r], 0.0);
      continue;
    }
    std::vector<double> lg(V);
    double mx = -1e300, s = 0;
    for (int v = 0; v < V; ++v) {
      lg[v] = hb[v];
      for (int c = 0; c < d; ++c) lg[v] += hx[r * d + c] * hE[v * d + c];
      mx = std::max(mx, lg[v]);
    }
    for (int v = 0; v < V; ++v) s += std::exp(lg[v] - mx);
    EXPECT_NEAR(hn[r], mx + std::log(s) - lg[tg[r]], 1e-12);
  }
  Tensor dx = be->alloc({N, d}), dE = be->alloc({V, d}), db = be->alloc({V});
  be->tied_ce_backward(x, E, bias, targets, weight, dx, dE, db);
  EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), loss, 40), 1e-6);
  EXPECT_GRAD_OK(check_gradient(*be, E, host(*be, dE), loss, 36), 1e-6);
  EXPECT_GRAD_OK(check_gradient(*be, bias, host(*be, db), loss), 1e-6);
  // Out-of-vocabulary target on a weighted row is an error.
  Tensor bad = make_i32(*be, {N}, std::vector<int32_t>(N, V));
  EXPECT_THROW(be->tied_ce_forward(x, E, bias, bad, weight, nll), Error);
}

TEST_F(OpsLoss, RoundingNearestAndArgmax) {
  const int N = 50, d = 3, V = 20;
  Tensor x = make_random(*be, rng, {N, d}), E = make_random(*be, rng, {V, d}), bias = make_random(*be, rng, {V});
  Tensor ids = be->alloc({N}, ElemType::i32), ids2 = be->alloc({N}, ElemType::i32);
  be->round_nearest(x, E, ids);
  be->round_argmax(x, E, bias, ids2);
  auto hx = host(*be, x), hE = host(*be, E), hb = host(*be, bias);
  auto hi = host_i32(*be, ids), hi2 = host_i32(*be, ids2);
  for (int r = 0; r < N; ++r) {
    int best = 0, best2 = 0;
    double bd = 1e300, bl = -1e300;
    for (int v = 0; v < V; ++v) {
      double dist = 0, logit = hb[v];
      for (int c = 0; c < d; ++c) dist += std::pow(hx[r * d + c] - hE[v * d + c], 2), logit += hx[r * d + c] * hE[v * d + c];
      if (dist < bd) bd = dist, best = v;
      if (logit > bl) bl = logit, best2 = v;
    }
    EXPECT_EQ(hi[r], best);
    EXPECT_EQ(hi2[r], best2);
  }
  // An embedding row rounds to itself.
  Tensor row_ids = make_i32(*be, {3}, {4, 17, 0}), rows = be->alloc({3, d}), out = be->alloc({3}, ElemType::i32);
  be->gather_rows(E, row_ids, rows);
  be->round_nearest(rows, E, out);
  EXPECT_EQ(host_i32(*be, out), (std::vector<int32_t>{4, 17, 0}));
}

}  // namespace
}  // namespace mds
