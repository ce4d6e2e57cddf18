// Tests of the MoE path on the GPU against a double-precision CPU reference:
// routing (softmax, top-k, gates), the deterministic counting sort with and
// without capacity, auxiliary losses, the expert FFN through the grouped
// GEMMs (forward and every gradient), un-permutation and the router backward.
// The CPU router gradient is itself checked against finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#ifdef MDS_HAVE_CUDA
#include "cuda_test_util.h"
#include "kernels/grouped_gemm.h"
#include "kernels/moe.h"
#endif

namespace {

struct RouteRef {
  int T, E, k, cap;
  std::vector<double> probs, lse, gate;
  std::vector<int> expert, position, counts, offsets;
  std::vector<double> f, P;  // first-choice fractions and mean probabilities over valid tokens
  double n_valid = 0, balance = 0, z = 0;
};

RouteRef route_ref(const std::vector<float>& logits, int T, int E, int k, const std::vector<uint8_t>& mask,
                   bool renorm, double cf, double balance_coef, double z_coef) {
  RouteRef r{T, E, k, 0, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  r.probs.assign(size_t(T) * E, 0);
  r.lse.assign(T, 0);
  r.gate.assign(size_t(T) * k, 0);
  r.expert.assign(size_t(T) * k, -1);
  for (int t = 0; t < T; ++t) {
    const float* x = &logits[size_t(t) * E];
    double mx = -1e300, s = 0;
    for (int e = 0; e < E; ++e) mx = std::max(mx, double(x[e]));
    for (int e = 0; e < E; ++e) s += std::exp(x[e] - mx);
    r.lse[t] = mx + std::log(s);
    for (int e = 0; e < E; ++e) r.probs[size_t(t) * E + e] = std::exp(x[e] - r.lse[t]);
    if (!mask.empty() && !mask[t]) continue;
    int b1 = 0;
    for (int e = 1; e < E; ++e)
      if (x[e] > x[b1]) b1 = e;
    r.expert[size_t(t) * k] = b1;
    const double pa = r.probs[size_t(t) * E + b1];
    if (k == 1) {
      r.gate[t] = pa;
      continue;
    }
    int b2 = b1 == 0 ? 1 : 0;
    for (int e = 0; e < E; ++e)
      if (e != b1 && x[e] > x[b2]) b2 = e;
    r.expert[size_t(t) * 2 + 1] = b2;
    const double pb = r.probs[size_t(t) * E + b2], norm = renorm ? pa + pb : 1.0;
    r.gate[size_t(t) * 2] = pa / norm;
    r.gate[size_t(t) * 2 + 1] = pb / norm;
  }
  const long long A = (long long)T * k;
  r.cap = cf <= 0 ? int(A) : int(std::min<double>(double(A), std::ceil(double(A) / E * cf)));
  r.counts.assign(E, 0);
  r.position.assign(size_t(T) * k, -1);
  std::vector<int> rank(size_t(T) * k, -1);
  for (int s = 0; s < k; ++s)  // first choices before second choices, each in token order
    for (int t = 0; t < T; ++t) {
      const int e = r.expert[size_t(t) * k + s];
      if (e >= 0) rank[size_t(t) * k + s] = r.counts[e]++;
    }
  r.offsets.assign(E + 1, 0);
  for (int e = 0; e < E; ++e) r.offsets[e + 1] = r.offsets[e] + std::min(r.counts[e], r.cap);
  for (size_t i = 0; i < rank.size(); ++i)
    if (rank[i] >= 0 && rank[i] < r.cap) r.position[i] = r.offsets[r.expert[i]] + rank[i];
  r.f.assign(E, 0);
  r.P.assign(E, 0);
  double zsum = 0;
  for (int t = 0; t < T; ++t) {
    if (r.expert[size_t(t) * k] < 0) continue;
    r.n_valid += 1;
    r.f[r.expert[size_t(t) * k]] += 1;
    for (int e = 0; e < E; ++e) r.P[e] += r.probs[size_t(t) * E + e];
    zsum += r.lse[t] * r.lse[t];
  }
  double dot = 0;
  for (int e = 0; e < E; ++e) {
    r.f[e] /= r.n_valid;
    r.P[e] /= r.n_valid;
    dot += r.f[e] * r.P[e];
  }
  r.balance = balance_coef * E * dot;
  r.z = z_coef * zsum / r.n_valid;
  return r;
}

// Loss whose logit gradient moe_route_backward computes: Σ dgate·gate + balance + z,
// with the first-choice fractions f held fixed (as Switch treats them).
double route_loss(const std::vector<float>& logits, const RouteRef& at, const std::vector<double>& dgate,
                  bool renorm, double bw, double zw) {
  const int T = at.T, E = at.E, k = at.k;
  double loss = 0, zsum = 0;
  std::vector<double> P(E, 0);
  for (int t = 0; t < T; ++t) {
    if (at.expert[size_t(t) * k] < 0) continue;
    const float* x = &logits[size_t(t) * E];
    double mx = -1e300, s = 0;
    for (int e = 0; e < E; ++e) mx = std::max(mx, double(x[e]));
    for (int e = 0; e < E; ++e) s += std::exp(x[e] - mx);
    const double lse = mx + std::log(s);
    std::vector<double> p(E);
    for (int e = 0; e < E; ++e) p[e] = std::exp(x[e] - lse), P[e] += p[e];
    zsum += lse * lse;
    const int a = at.expert[size_t(t) * k];
    if (k == 1) {
      loss += dgate[t] * p[a];
    } else {
      const int b = at.expert[size_t(t) * 2 + 1];
      const double norm = renorm ? p[a] + p[b] : 1.0;
      loss += dgate[size_t(t) * 2] * p[a] / norm + dgate[size_t(t) * 2 + 1] * p[b] / norm;
    }
  }
  double dot = 0;
  for (int e = 0; e < E; ++e) dot += at.f[e] * P[e] / at.n_valid;
  return loss + bw * E * dot + zw * zsum / at.n_valid;
}

std::vector<double> route_backward_ref(const RouteRef& r, const std::vector<double>& dgate, bool renorm, double bw,
                                       double zw) {
  const int T = r.T, E = r.E, k = r.k;
  std::vector<double> out(size_t(T) * E, 0);
  for (int t = 0; t < T; ++t) {
    if (r.expert[size_t(t) * k] < 0) continue;
    const double* p = &r.probs[size_t(t) * E];
    std::vector<double> dp(E, 0);
    if (k == 2 && renorm) {
      const int a = r.expert[size_t(t) * 2], b = r.expert[size_t(t) * 2 + 1];
      const double sum = p[a] + p[b];
      const double common = dgate[size_t(t) * 2] * r.gate[size_t(t) * 2] + dgate[size_t(t) * 2 + 1] * r.gate[size_t(t) * 2 + 1];
      dp[a] += (dgate[size_t(t) * 2] - common) / sum;
      dp[b] += (dgate[size_t(t) * 2 + 1] - common) / sum;
    } else {
      for (int s = 0; s < k; ++s) dp[r.expert[size_t(t) * k + s]] += dgate[size_t(t) * k + s];
    }
    for (int e = 0; e < E; ++e) dp[e] += bw * E * r.f[e] / r.n_valid;
    double dot = 0;
    for (int e = 0; e < E; ++e) dot += p[e] * dp[e];
    for (int e = 0; e < E; ++e) out[size_t(t) * E + e] = p[e] * (dp[e] - dot) + zw * 2 * r.lse[t] * p[e] / r.n_valid;
  }
  return out;
}

TEST(MoeReference, RouterGradientMatchesFiniteDifferences) {
  for (int k : {1, 2}) {
    const int T = 7, E = 5;
    std::mt19937 rng(k);
    std::uniform_real_distribution<float> u(-2, 2);
    std::vector<float> logits(size_t(T) * E);
    for (auto& x : logits) x = u(rng);
    std::vector<uint8_t> mask(T, 1);
    mask[3] = 0;
    RouteRef r = route_ref(logits, T, E, k, mask, true, 0, 0.01, 0.001);
    std::vector<double> dgate(size_t(T) * k);
    for (auto& g : dgate) g = u(rng);
    const double bw = 0.3, zw = 0.2;  // large weights so the auxiliary terms matter
    auto g = route_backward_ref(r, dgate, true, bw, zw);
    const float h = 1e-3f;
    for (size_t i = 0; i < logits.size(); ++i) {
      const float keep = logits[i];
      logits[i] = keep + h;
      const double lp = route_loss(logits, r, dgate, true, bw, zw);
      logits[i] = keep - h;
      const double lm = route_loss(logits, r, dgate, true, bw, zw);
      logits[i] = keep;
      EXPECT_NEAR((lp - lm) / (2 * h), g[i], 1e-4) << "k=" << k << " element " << i;
    }
  }
}

}  // namespace

#ifdef MDS_HAVE_CUDA

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_grad(double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }

class CudaMoe : public GpuTest {
 protected:
  void run(int T, int E, int k, int H, int F, double cf, bool use_mask, uint32_t seed) {
    std::mt19937 rng(seed);
    const bool renorm = true;
    const float bcoef = 0.01f, zcoef = 0.001f, bw = 0.05f, zw = 0.02f;
    auto logits = random_floats(rng, size_t(T) * E, -3.f, 3.f);
    std::vector<uint8_t> mask;
    if (use_mask) {
      mask.assign(T, 1);
      for (int t = 0; t < T; t += 7) mask[t] = 0;
    }
    auto x = random_bf16_values(rng, size_t(T) * H), dy = random_bf16_values(rng, size_t(T) * H);
    auto w1 = random_bf16_values(rng, size_t(E) * F * H, -0.2f, 0.2f), w2 = random_bf16_values(rng, size_t(E) * H * F, -0.2f, 0.2f);
    auto b1 = random_floats(rng, size_t(E) * F, -0.3f, 0.3f), b2 = random_floats(rng, size_t(E) * H, -0.3f, 0.3f);

    // ---- CPU reference
    RouteRef r = route_ref(logits, T, E, k, mask, renorm, cf, bcoef, zcoef);
    std::vector<double> y(size_t(T) * H, 0), dx(size_t(T) * H, 0), dgate(size_t(T) * k, 0);
    std::vector<double> dw1(w1.size(), 0), dw2(w2.size(), 0), db1(b1.size(), 0), db2(b2.size(), 0);
    for (int t = 0; t < T; ++t)
      for (int s = 0; s < k; ++s) {
        const size_t slot = size_t(t) * k + s;
        if (r.position[slot] < 0) continue;
        const int e = r.expert[slot];
        const double g = r.gate[slot];
        std::vector<double> u(F), a(F), ye(H);
        for (int f = 0; f < F; ++f) {
          double acc = b1[size_t(e) * F + f];
          for (int c = 0; c < H; ++c) acc += double(w1[(size_t(e) * F + f) * H + c]) * x[size_t(t) * H + c];
          u[f] = acc;
          a[f] = gelu(acc);
        }
        double dg = 0;
        for (int c = 0; c < H; ++c) {
          double acc = b2[size_t(e) * H + c];
          for (int f = 0; f < F; ++f) acc += double(w2[(size_t(e) * H + c) * F + f]) * a[f];
          ye[c] = acc;
          y[size_t(t) * H + c] += g * acc;
          dg += dy[size_t(t) * H + c] * acc;
        }
        dgate[slot] = dg;
        std::vector<double> du(F, 0);
        for (int c = 0; c < H; ++c) {
          const double d = g * dy[size_t(t) * H + c];
          db2[size_t(e) * H + c] += d;
          for (int f = 0; f < F; ++f) {
            dw2[(size_t(e) * H + c) * F + f] += d * a[f];
            du[f] += d * w2[(size_t(e) * H + c) * F + f];
          }
        }
        for (int f = 0; f < F; ++f) {
          du[f] *= gelu_grad(u[f]);
          db1[size_t(e) * F + f] += du[f];
          for (int c = 0; c < H; ++c) {
            dw1[(size_t(e) * F + f) * H + c] += du[f] * x[size_t(t) * H + c];
            dx[size_t(t) * H + c] += du[f] * w1[(size_t(e) * F + f) * H + c];
          }
        }
      }

    // ---- GPU
    MoeRouting rt(ctx(), T, E, k, cf);
    ASSERT_EQ(rt.capacity(), r.cap);
    const int A = rt.rows_bound();
    DeviceBuffer dLog = upload(ctx(), logits), dMask = upload(ctx(), mask), dX = upload_bf16(ctx(), x),
                 dDY = upload_bf16(ctx(), dy), dW1 = upload_bf16(ctx(), w1), dW2 = upload_bf16(ctx(), w2),
                 dB1 = upload(ctx(), b1), dB2 = upload(ctx(), b2);
    DeviceBuffer xp = poisoned(ctx(), size_t(A) * H * 2), up = poisoned(ctx(), size_t(A) * F * 2),
                 gp = poisoned(ctx(), size_t(A) * F * 2), yp = poisoned(ctx(), size_t(A) * H * 2),
                 dY = poisoned(ctx(), size_t(T) * H * 2), dyp = poisoned(ctx(), size_t(A) * H * 2),
                 dup = poisoned(ctx(), size_t(A) * F * 2), dxp = poisoned(ctx(), size_t(A) * H * 2),
                 dDX = poisoned(ctx(), size_t(T) * H * 2), dDG = poisoned(ctx(), size_t(T) * k * 4),
                 dDL = poisoned(ctx(), size_t(T) * E * 4);
    DeviceBuffer dDW1 = upload(ctx(), std::vector<float>(w1.size(), 0.f)), dDW2 = upload(ctx(), std::vector<float>(w2.size(), 0.f)),
                 dDB1 = upload(ctx(), std::vector<float>(b1.size(), 0.f)), dDB2 = upload(ctx(), std::vector<float>(b2.size(), 0.f));
    const ExpertGroups groups = rt.groups();
    moe_route(ctx(), rt, dLog.as<float>(), use_mask ? dMask.as<uint8_t>() : nullptr, renorm);
    moe_dispatch(ctx(), rt);
    moe_aux_losses(ctx(), rt, bcoef, zcoef);
    moe_permute(ctx(), rt, dX.as<bf16>(), H, xp.as<bf16>());
    grouped_linear_forward(ctx(), groups, xp.as<bf16>(), dW1.as<bf16>(), dB1.as<float>(), F, H, true, gp.as<bf16>(),
                           up.as<bf16>());
    grouped_linear_forward(ctx(), groups, gp.as<bf16>(), dW2.as<bf16>(), dB2.as<float>(), H, F, false, yp.as<bf16>(),
                           nullptr);
    moe_unpermute(ctx(), rt, yp.as<bf16>(), H, dY.as<bf16>());
    moe_unpermute_backward(ctx(), rt, dDY.as<bf16>(), yp.as<bf16>(), H, dyp.as<bf16>(), dDG.as<float>());
    grouped_linear_backward_weight(ctx(), groups, dyp.as<bf16>(), gp.as<bf16>(), H, F, dDW2.as<float>(), dDB2.as<float>());
    grouped_linear_backward_data(ctx(), groups, dyp.as<bf16>(), dW2.as<bf16>(), H, F, up.as<bf16>(), dup.as<bf16>());
    grouped_linear_backward_weight(ctx(), groups, dup.as<bf16>(), xp.as<bf16>(), F, H, dDW1.as<float>(), dDB1.as<float>());
    grouped_linear_backward_data(ctx(), groups, dup.as<bf16>(), dW1.as<bf16>(), F, H, nullptr, dxp.as<bf16>());
    moe_permute_backward(ctx(), rt, dxp.as<bf16>(), H, dDX.as<bf16>(), false);
    moe_route_backward(ctx(), rt, dDG.as<float>(), renorm, bw, zw, dDL.as<float>());

    // Routing and dispatch: exact where the reference is exact.
    const size_t S = size_t(T) * k;
    EXPECT_EQ(download_ptr<int32_t>(ctx(), rt.expert, S), r.expert);
    EXPECT_EQ(download_ptr<int32_t>(ctx(), rt.position, S), r.position);
    EXPECT_EQ(download_ptr<int32_t>(ctx(), rt.counts, E), r.counts);
    EXPECT_EQ(download_ptr<int32_t>(ctx(), rt.offsets, E + 1), r.offsets);
    std::vector<int> tiles(E + 1, 0);
    for (int e = 0; e < E; ++e) tiles[e + 1] = tiles[e] + (r.offsets[e + 1] - r.offsets[e] + 63) / 64;
    EXPECT_EQ(download_ptr<int32_t>(ctx(), rt.tile_offsets, E + 1), tiles);
    int dropped = 0, masked = 0;
    for (size_t i = 0; i < S; ++i) {
      dropped += r.expert[i] >= 0 && r.position[i] < 0;
      masked += r.expert[i] < 0;
    }
    if (cf > 0) EXPECT_GT(dropped, 0) << "the capacity case should drop slots";
    if (use_mask) EXPECT_GT(masked, 0);
    const double e_gate = rel_err(download_ptr<float>(ctx(), rt.gate, S), r.gate);
    const double e_probs = rel_err(download_ptr<float>(ctx(), rt.probs, size_t(T) * E), r.probs);
    const double e_lse = rel_err(download_ptr<float>(ctx(), rt.lse, T), r.lse);
    auto stats = download_ptr<float>(ctx(), rt.stats, 2 * E + 4);
    std::vector<double> ref_stats(r.f);
    ref_stats.insert(ref_stats.end(), r.P.begin(), r.P.end());
    ref_stats.push_back(r.balance);
    ref_stats.push_back(r.z);
    ref_stats.push_back(r.n_valid);
    const double e_stats = rel_err(std::vector<float>(stats.begin(), stats.begin() + 2 * E + 3), ref_stats);
    EXPECT_LT(e_gate, kTolF32);
    EXPECT_LT(e_probs, kTolF32);
    EXPECT_LT(e_lse, kTolF32);
    EXPECT_LT(e_stats, kTolF32);

    // Expert FFN, un-permutation and gradients.
    const double e_y = rel_err(download_bf16(ctx(), dY, size_t(T) * H), y);
    auto dg_gpu = download<float>(ctx(), dDG, S);
    const double e_dg = rel_err(dg_gpu, dgate);
    const double e_dx = rel_err(download_bf16(ctx(), dDX, size_t(T) * H), dx);
    const double e_dw1 = rel_err(download<float>(ctx(), dDW1, w1.size()), dw1);
    const double e_dw2 = rel_err(download<float>(ctx(), dDW2, w2.size()), dw2);
    const double e_db1 = rel_err(download<float>(ctx(), dDB1, b1.size()), db1);
    const double e_db2 = rel_err(download<float>(ctx(), dDB2, b2.size()), db2);
    // The router backward on the GPU's own gate gradients, against the reference formula.
    auto dl_ref = route_backward_ref(r, std::vector<double>(dg_gpu.begin(), dg_gpu.end()), renorm, bw, zw);
    const double e_dl = rel_err(download<float>(ctx(), dDL, size_t(T) * E), dl_ref);
    std::printf(
        "  moe T=%d E=%d k=%d H=%d F=%d cf=%.2f: dropped %d | y %.2e dgate %.2e dx %.2e dW1 %.2e dW2 %.2e db1 %.2e "
        "db2 %.2e dlogits %.2e | gate %.2e stats %.2e\n",
        T, E, k, H, F, cf, dropped, e_y, e_dg, e_dx, e_dw1, e_dw2, e_db1, e_db2, e_dl, e_gate, e_stats);
    EXPECT_LT(e_y, kTolBf16);
    EXPECT_LT(e_dg, kTolBf16);
    EXPECT_LT(e_dx, kTolBf16);
    EXPECT_LT(e_dw1, kTolBf16);
    EXPECT_LT(e_dw2, kTolBf16);
    EXPECT_LT(e_db1, kTolBf16);
    EXPECT_LT(e_db2, kTolBf16);
    EXPECT_LT(e_dl, kTolF32);

    // Accumulating variants: a second gate/row gradient and data gradient pass doubles them.
    moe_unpermute_backward(ctx(), rt, dDY.as<bf16>(), yp.as<bf16>(), H, dyp.as<bf16>(), dDG.as<float>(), true);
    grouped_linear_backward_data(ctx(), groups, dup.as<bf16>(), dW1.as<bf16>(), F, H, nullptr, dxp.as<bf16>(), true);
    moe_permute_backward(ctx(), rt, dxp.as<bf16>(), H, dDX.as<bf16>(), false);
    for (auto* v : {&dgate, &dx})
      for (auto& e : *v) e *= 2;
    EXPECT_LT(rel_err(download<float>(ctx(), dDG, S), dgate), kTolBf16);
    EXPECT_LT(rel_err(download_bf16(ctx(), dDX, size_t(T) * H), dx), kTolBf16);
  }
};

TEST_F(CudaMoe, Top2DroplessWithMaskedTokens) { run(300, 6, 2, 64, 128, 0.0, true, 1); }
TEST_F(CudaMoe, Top1WithCapacityDrops) { run(257, 5, 1, 96, 64, 0.8, false, 2); }
TEST_F(CudaMoe, Top2WithCapacityManyChunks) { run(1500, 8, 2, 32, 64, 1.0, false, 3); }

}  // namespace

#else
TEST(CudaMoe, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
