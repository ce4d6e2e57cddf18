// MoE operations: top-k gates (with and without renormalisation), dispatch
// (dropless vs capacity, first choices before second choices), combine,
// router auxiliary losses, and the whole routed expert FFN, with gradients
// checked by finite differences in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cpu/cpu_backend.h"
#include "gradcheck.h"

namespace mds {
namespace {

using namespace testing_util;

class OpsMoe : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend(2, CpuPrecision::f64);
  std::mt19937_64 rng{5};
};

TEST_F(OpsMoe, TopkGatesForwardAndGradients) {
  for (int k : {1, 2, 3})
    for (bool renorm : {false, true}) {
      Tensor logits = make_random(*be, rng, {6, 5}, 2.0), probs = be->alloc({6, 5});
      be->softmax_forward(logits, probs);
      Tensor idx = be->alloc({6, k}, ElemType::i32), gates = be->alloc({6, k});
      auto r = random_vec(rng, 6 * k);
      auto loss = [&] {
        be->topk_gates_forward(probs, k, renorm, idx, gates);
        return dot(host(*be, gates), r);
      };
      loss();
      auto hp = host(*be, probs);
      auto hi = host_i32(*be, idx);
      auto hg = host(*be, gates);
      for (int n = 0; n < 6; ++n) {
        // Chosen experts are the k largest, in descending order.
        for (int c = 1; c < k; ++c) EXPECT_GE(hp[n * 5 + hi[n * k + c - 1]], hp[n * 5 + hi[n * k + c]]);
        double sum = 0;
        for (int c = 0; c < k; ++c) sum += hg[n * k + c];
        if (renorm && k > 1) EXPECT_NEAR(sum, 1.0, 1e-12);
        if (k == 1) EXPECT_EQ(hg[n], hp[n * 5 + hi[n]]);  // Switch: raw probability
      }
      Tensor dg = make_real(*be, {6, k}, r), dp = be->alloc({6, 5});
      be->topk_gates_backward(probs, idx, renorm, dg, dp);
      EXPECT_GRAD_OK(check_gradient(*be, probs, host(*be, dp), loss), 1e-6);
    }
}

TEST_F(OpsMoe, DispatchDroplessVersusCapacity) {
  // 5 tokens, 3 experts, top-2. Token 3 is padding (never routed).
  Tensor idx = make_i32(*be, {5, 2}, {0, 1, 0, 2, 0, 1, 2, 0, 1, 0});
  Tensor valid = make_u8(*be, {5}, {1, 1, 1, 0, 1});
  MoeDispatch free = be->moe_dispatch(idx, valid, 3, -1);
  EXPECT_EQ(free.slots, 8);
  EXPECT_EQ(free.dropped, 0);
  EXPECT_EQ(free.routed_tokens, 4);
  EXPECT_EQ(free.offsets, (std::vector<int64_t>{0, 4, 7, 8}));
  EXPECT_EQ(free.assigned, (std::vector<int64_t>{4, 3, 1}));
  EXPECT_DOUBLE_EQ(free.top1_fraction[0], 0.75);
  EXPECT_DOUBLE_EQ(free.top1_fraction[1], 0.25);
  EXPECT_EQ(host_i32(*be, free.slot_token), (std::vector<int32_t>{0, 1, 2, 4, 0, 2, 4, 1}));

  // Capacity 2. First choices go first: expert 0 takes tokens 0 and 1 and
  // drops token 2; expert 1 takes token 4. Then second choices: token 0 fills
  // expert 1, token 1 goes to expert 2, token 2 (expert 1, full) and token 4
  // (expert 0, full) are dropped.
  MoeDispatch cap = be->moe_dispatch(idx, valid, 3, 2);
  EXPECT_EQ(cap.dropped, 3);
  EXPECT_EQ(cap.slots, 5);
  EXPECT_EQ(cap.offsets, (std::vector<int64_t>{0, 2, 4, 5}));
  EXPECT_EQ(host_i32(*be, cap.slot_token), (std::vector<int32_t>{0, 1, 0, 4, 1}));
  EXPECT_EQ(host_i32(*be, cap.slot_choice), (std::vector<int32_t>{0, 2, 1, 8, 3}));
  // The load statistics are the routing decisions, independent of capacity.
  EXPECT_EQ(cap.assigned, free.assigned);

  // Combine: a dropped pick contributes nothing; a padding row is zero.
  Tensor gates = make_real(*be, {5, 2}, {0.6, 0.4, 0.7, 0.3, 0.5, 0.5, 0.9, 0.1, 0.8, 0.2});
  std::vector<double> yv(5 * 2);
  for (int s = 0; s < 5; ++s) yv[s * 2] = s + 1, yv[s * 2 + 1] = -(s + 1);
  Tensor yp = make_real(*be, {5, 2}, yv), out = be->alloc({5, 2});
  be->moe_combine_forward(yp, gates, cap, out);
  auto ho = host(*be, out);
  EXPECT_NEAR(ho[0], 0.6 * 1 + 0.4 * 3, 1e-12);  // token 0: expert 0 slot 0, expert 1 slot 2
  EXPECT_NEAR(ho[2], 0.7 * 2 + 0.3 * 5, 1e-12);  // token 1: slots 1 and 4
  EXPECT_NEAR(ho[4], 0.0, 1e-12);                // token 2: both picks dropped (residual only)
  EXPECT_NEAR(ho[6], 0.0, 1e-12);                // padding token 3
  EXPECT_NEAR(ho[8], 0.8 * 4, 1e-12);            // token 4: second pick dropped
}

TEST_F(OpsMoe, CombineGradients) {
  Tensor idx = make_i32(*be, {4, 2}, {0, 1, 1, 2, 2, 0, 0, 2});
  MoeDispatch d = be->moe_dispatch(idx, Tensor(), 3, -1);
  Tensor yp = make_random(*be, rng, {d.slots, 3}), gates = make_random(*be, rng, {4, 2}), out = be->alloc({4, 3});
  auto r = random_vec(rng, 12);
  auto loss = [&] {
    be->moe_combine_forward(yp, gates, d, out);
    return dot(host(*be, out), r);
  };
  Tensor dout = make_real(*be, {4, 3}, r), dyp = be->alloc({d.slots, 3}), dg = be->alloc({4, 2});
  be->moe_combine_backward(yp, gates, d, dout, dyp, dg);
  EXPECT_GRAD_OK(check_gradient(*be, yp, host(*be, dyp), loss), 1e-6);
  EXPECT_GRAD_OK(check_gradient(*be, gates, host(*be, dg), loss), 1e-6);
}

TEST_F(OpsMoe, RouterAuxLossesValuesAndGradients) {
  const int N = 7, E = 4;
  Tensor logits = make_random(*be, rng, {N, E}, 1.5), probs = be->alloc({N, E});
  Tensor valid = make_u8(*be, {N}, {1, 1, 0, 1, 1, 1, 0});
  Tensor idx = be->alloc({N, 2}, ElemType::i32), gates = be->alloc({N, 2});
  be->softmax_forward(logits, probs);
  be->topk_gates_forward(probs, 2, true, idx, gates);
  MoeDispatch d = be->moe_dispatch(idx, valid, E, -1);  // f_e frozen from this routing
  const double wb = 0.3, wz = 0.7;
  auto loss = [&] {
    be->softmax_forward(logits, probs);
    auto a = be->router_aux_forward(logits, probs, valid, d);
    return wb * a.balance + wz * a.z;
  };
  // Values against a direct computation.
  auto hl = host(*be, logits), hp = host(*be, probs);
  auto hv = std::vector<int>{1, 1, 0, 1, 1, 1, 0};
  double z = 0, bal = 0;
  std::vector<double> P(E, 0);
  for (int n = 0; n < N; ++n) {
    if (!hv[n]) continue;
    double mx = -1e300, s = 0;
    for (int e = 0; e < E; ++e) mx = std::max(mx, hl[n * E + e]);
    for (int e = 0; e < E; ++e) s += std::exp(hl[n * E + e] - mx);
    z += std::pow(mx + std::log(s), 2);
    for (int e = 0; e < E; ++e) P[e] += hp[n * E + e] / 5;
  }
  for (int e = 0; e < E; ++e) bal += E * d.top1_fraction[e] * P[e];
  auto a = be->router_aux_forward(logits, probs, valid, d);
  EXPECT_NEAR(a.z, z / 5, 1e-12);
  EXPECT_NEAR(a.balance, bal, 1e-12);
  // Gradient w.r.t. logits: direct z-loss part plus the balance part through the softmax.
  Tensor dlogits = be->alloc({N, E}), dprobs = be->alloc({N, E});
  be->router_aux_backward(logits, probs, valid, d, wb, wz, dlogits, dprobs);
  be->softmax_backward(probs, dprobs, dlogits);
  EXPECT_GRAD_OK(check_gradient(*be, logits, host(*be, dlogits), loss), 1e-6);
}

// The whole routed FFN as the model composes it, with and without a capacity
// limit: x -> router -> softmax -> top-2 -> dispatch -> expert FFN -> combine.
TEST_F(OpsMoe, RoutedExpertFfnGradients) {
  const int N = 9, H = 4, F = 6, E = 3, k = 2;
  for (int64_t capacity : {int64_t(-1), int64_t(4)}) {
    Tensor x = make_random(*be, rng, {N, H}), Wr = make_random(*be, rng, {E, H});
    Tensor W1 = make_random(*be, rng, {E, F, H}, 0.5), b1 = make_random(*be, rng, {E, F}, 0.1);
    Tensor W2 = make_random(*be, rng, {E, H, F}, 0.5), b2 = make_random(*be, rng, {E, H}, 0.1);
    Tensor valid = make_u8(*be, {N}, {1, 1, 1, 1, 0, 1, 1, 1, 1});
    auto r = random_vec(rng, N * H);
    struct Acts {
      Tensor logits, probs, idx, gates, xp, hpre, hact, yp, out;
      MoeDispatch d;
    } a;
    auto forward = [&] {
      a.logits = be->alloc({N, E});
      a.probs = be->alloc({N, E});
      be->linear_forward(x, Wr, Tensor(), a.logits);
      be->softmax_forward(a.logits, a.probs);
      a.idx = be->alloc({N, k}, ElemType::i32);
      a.gates = be->alloc({N, k});
      be->topk_gates_forward(a.probs, k, true, a.idx, a.gates);
      a.d = be->moe_dispatch(a.idx, valid, E, capacity);
      a.xp = be->alloc({a.d.slots, H});
      be->gather_rows(x, a.d.slot_token, a.xp);
      a.hpre = be->alloc({a.d.slots, F});
      a.hact = be->alloc({a.d.slots, F});
      be->grouped_linear_forward(a.xp, W1, b1, a.d.offsets, a.hpre);
      be->activation_forward(Activation::gelu, a.hpre, a.hact);
      a.yp = be->alloc({a.d.slots, H});
      be->grouped_linear_forward(a.hact, W2, b2, a.d.offsets, a.yp);
      a.out = be->alloc({N, H});
      be->moe_combine_forward(a.yp, a.gates, a.d, a.out);
      return dot(host(*be, a.out), r);
    };
    forward();
    if (capacity > 0) EXPECT_GT(a.d.dropped, 0) << "capacity 4 of 16 picks over 3 experts must drop";
    Tensor dout = make_real(*be, {N, H}, r);
    Tensor dyp = be->alloc({a.d.slots, H}), dgates = be->alloc({N, k}), dhact = be->alloc({a.d.slots, F});
    Tensor dhpre = be->alloc({a.d.slots, F}), dxp = be->alloc({a.d.slots, H}), dx = be->alloc({N, H});
    Tensor dW1 = be->alloc({E, F, H}), db1 = be->alloc({E, F}), dW2 = be->alloc({E, H, F}), db2 = be->alloc({E, H});
    Tensor dprobs = be->alloc({N, E}), dlogits = be->alloc({N, E}), dWr = be->alloc({E, H}), none;
    be->moe_combine_backward(a.yp, a.gates, a.d, dout, dyp, dgates);
    be->grouped_linear_backward(a.hact, W2, dyp, a.d.offsets, dhact, dW2, db2, GradMode::add);
    be->activation_backward(Activation::gelu, a.hpre, a.hact, dhact, dhpre, GradMode::add);
    be->grouped_linear_backward(a.xp, W1, dhpre, a.d.offsets, dxp, dW1, db1, GradMode::add);
    be->scatter_add_rows(dxp, a.d.slot_token, dx);
    be->topk_gates_backward(a.probs, a.idx, true, dgates, dprobs);
    be->softmax_backward(a.probs, dprobs, dlogits);
    be->linear_backward(x, Wr, dlogits, dx, dWr, none);
    EXPECT_GRAD_OK(check_gradient(*be, x, host(*be, dx), forward), 1e-6);
    EXPECT_GRAD_OK(check_gradient(*be, Wr, host(*be, dWr), forward), 1e-6);
    EXPECT_GRAD_OK(check_gradient(*be, W1, host(*be, dW1), forward), 1e-6);
    EXPECT_GRAD_OK(check_gradient(*be, b2, host(*be, db2), forward), 1e-6);
  }
}

}  // namespace
}  // namespace mds
