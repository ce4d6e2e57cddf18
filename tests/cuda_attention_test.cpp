// Tests of the fused sliding-window + global attention kernels against a plain
// double-precision CPU reference (forward output, log-sum-exp, and dQ/dK/dV),
// on random bf16 inputs with poisoned outputs. The CPU reference's gradients
// are themselves checked against finite differences (runs without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#ifdef MDS_HAVE_CUDA
#include "kernels/attention.h"
#include "cuda_test_util.h"
#endif

namespace {

struct RefConfig {
  int B, L, H, D;
  int window;
  std::vector<int> dilation;          // per head
  std::vector<int> lengths;           // per example
  std::vector<std::vector<std::pair<int, int>>> globals;  // per example (or empty)
};

bool is_global(const RefConfig& c, int b, int i) {
  if (c.globals.empty()) return false;
  for (auto& r : c.globals[b])
    if (i >= r.first && i < r.second) return true;
  return false;
}

// Query i sees key j iff j is inside the example and (i global, j global, or
// j = i + k·dilation with |k| <= window). Every query row is computed.
bool ref_allowed(const RefConfig& c, int b, int h, int i, int j) {
  const int len = c.lengths[b];
  if (j >= len) return false;
  if (is_global(c, b, i) || is_global(c, b, j)) return true;
  const int d = std::abs(i - j), dil = c.dilation[h];
  return d <= (long long)c.window * dil && d % dil == 0;
}

// Inputs are token-major [B*L, ld] with head h at columns h*D.
struct RefOut {
  std::vector<double> out, lse, dq, dk, dv;  // out/dq/dk/dv as [B*L, H*D]; lse [B, H, L]
};

RefOut attention_ref(const RefConfig& c, const std::vector<float>& q, const std::vector<float>& k,
                     const std::vector<float>& v, int ld, const std::vector<float>* dout) {
  const int HD = c.H * c.D;
  RefOut r;
  r.out.assign(size_t(c.B) * c.L * HD, 0.0);
  r.lse.assign(size_t(c.B) * c.H * c.L, 0.0);
  r.dq.assign(r.out.size(), 0.0);
  r.dk.assign(r.out.size(), 0.0);
  r.dv.assign(r.out.size(), 0.0);
  const double scale = 1.0 / std::sqrt(double(c.D));
  auto at = [&](const std::vector<float>& t, int b, int i, int h, int d) {
    return double(t[(size_t(b) * c.L + i) * ld + h * c.D + d]);
  };
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.H; ++h)
      for (int i = 0; i < c.L; ++i) {
        std::vector<double> s(c.L, -INFINITY), p(c.L, 0.0);
        double mx = -INFINITY;
        for (int j = 0; j < c.L; ++j) {
          if (!ref_allowed(c, b, h, i, j)) continue;
          double dot = 0;
          for (int d = 0; d < c.D; ++d) dot += at(q, b, i, h, d) * at(k, b, j, h, d);
          s[j] = dot * scale;
          mx = std::max(mx, s[j]);
        }
        if (mx == -INFINITY) {  // no visible key: output 0, lse = -inf, no gradient
          r.lse[(size_t(b) * c.H + h) * c.L + i] = -INFINITY;
          continue;
        }
        double sum = 0;
        for (int j = 0; j < c.L; ++j)
          if (s[j] != -INFINITY) sum += std::exp(s[j] - mx);
        r.lse[(size_t(b) * c.H + h) * c.L + i] = mx + std::log(sum);
        for (int j = 0; j < c.L; ++j)
          if (s[j] != -INFINITY) p[j] = std::exp(s[j] - mx) / sum;
        const size_t orow = (size_t(b) * c.L + i) * HD + h * c.D;
        for (int d = 0; d < c.D; ++d) {
          double o = 0;
          for (int j = 0; j < c.L; ++j) o += p[j] * at(v, b, j, h, d);
          r.out[orow + d] = o;
        }
        if (!dout) continue;
        // dP_j = dO·v_j; dS_j = P_j (dP_j − Σ P dP); dQ = scale Σ dS_j k_j; dK_j += scale dS_j q_i; dV_j += P_j dO.
        std::vector<double> dp(c.L, 0.0);
        double pdp = 0;
        for (int j = 0; j < c.L; ++j) {
          if (p[j] == 0) continue;
          double t = 0;
          for (int d = 0; d < c.D; ++d) t += (*dout)[orow + d] * at(v, b, j, h, d);
          dp[j] = t;
          pdp += p[j] * t;
        }
        for (int j = 0; j < c.L; ++j) {
          if (p[j] == 0) continue;
          const double ds = p[j] * (dp[j] - pdp);
          const size_t jrow = (size_t(b) * c.L + j) * HD + h * c.D;
          for (int d = 0; d < c.D; ++d) {
            r.dq[orow + d] += scale * ds * at(k, b, j, h, d);
            r.dk[jrow + d] += scale * ds * at(q, b, i, h, d);
            r.dv[jrow + d] += p[j] * (*dout)[orow + d];
          }
        }
      }
  return r;
}

// The reference backward agrees with central differences of Σ out·dout.
TEST(AttentionReference, GradientsMatchFiniteDifferences) {
  RefConfig c{1, 9, 2, 4, 1, {1, 2}, {7}, {{{4, 5}}}};  // rows 7, 8 are padding queries
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  const int ld = c.H * c.D;
  std::vector<float> q(size_t(c.L) * ld), k(q.size()), v(q.size()), dout(q.size());
  for (auto* t : {&q, &k, &v, &dout})
    for (auto& x : *t) x = u(rng);
  RefOut r = attention_ref(c, q, k, v, ld, &dout);
  auto loss = [&]() {
    RefOut o = attention_ref(c, q, k, v, ld, nullptr);
    double s = 0;
    for (size_t i = 0; i < o.out.size(); ++i) s += o.out[i] * dout[i];
    return s;
  };
  const float h = 1e-3f;
  for (auto [t, g] : {std::pair{&q, &r.dq}, std::pair{&k, &r.dk}, std::pair{&v, &r.dv}}) {
    for (size_t i = 0; i < t->size(); ++i) {
      const float keep = (*t)[i];
      (*t)[i] = keep + h;
      const double lp = loss();
      (*t)[i] = keep - h;
      const double lm = loss();
      (*t)[i] = keep;
      EXPECT_NEAR((lp - lm) / (2 * h), (*g)[i], 2e-3) << "element " << i;
    }
  }
}

}  // namespace

#ifdef MDS_HAVE_CUDA

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

// lse agrees where finite (relative error) and is -inf exactly where the reference's is.
double lse_err(const std::vector<float>& got, const std::vector<double>& ref) {
  std::vector<float> g;
  std::vector<double> r;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i])) {
      if (!(std::isinf(got[i]) && got[i] < 0)) return INFINITY;
      continue;
    }
    g.push_back(got[i]);
    r.push_back(ref[i]);
  }
  return rel_err(g, r);
}

class CudaAttention : public GpuTest {
 protected:
  // Runs forward and backward on a fused QKV layout and compares with the
  // reference. With `view_globals` the global tables are built here in the
  // model's layout (list stride max_globals, -1 padded) and passed as a view;
  // with `twice` the backward runs a second time with accumulate = true.
  void run(const RefConfig& c, uint32_t seed, bool view_globals = false, bool twice = false) {
    std::mt19937 rng(seed);
    const int HD = c.H * c.D, ld = 3 * HD;
    const size_t rows = size_t(c.B) * c.L;
    auto qkv = random_bf16_values(rng, rows * ld, -2.f, 2.f);
    auto dout = random_bf16_values(rng, rows * HD);
    std::vector<float> q(rows * ld), k(rows * ld), v(rows * ld);
    for (size_t r = 0; r < rows; ++r)
      for (int e = 0; e < HD; ++e) {
        q[r * ld + e] = qkv[r * ld + e];
        k[r * ld + e] = qkv[r * ld + HD + e];
        v[r * ld + e] = qkv[r * ld + 2 * HD + e];
      }
    std::vector<float> dout_f(dout.begin(), dout.end());
    RefOut ref = attention_ref(c, q, k, v, ld, &dout_f);

    DeviceBuffer d_qkv = upload_bf16(ctx(), qkv), d_dout = upload_bf16(ctx(), dout);
    DeviceBuffer d_len = upload(ctx(), std::vector<int32_t>(c.lengths.begin(), c.lengths.end()));
    DeviceBuffer d_out = poisoned(ctx(), rows * HD * 2), d_lse = poisoned(ctx(), size_t(c.B) * c.H * c.L * 4);
    DeviceBuffer d_dqkv = poisoned(ctx(), rows * ld * 2);
    std::unique_ptr<AttentionGlobals> globals;
    DeviceBuffer g_mask, g_list, g_count;
    if (!c.globals.empty() && !view_globals) globals = std::make_unique<AttentionGlobals>(ctx(), c.B, c.L, c.globals);
    if (!c.globals.empty() && view_globals) {
      std::vector<uint8_t> mask(rows, 0);
      std::vector<int32_t> count(c.B, 0);
      int max_g = 0;
      for (int b = 0; b < c.B; ++b)
        for (int i = 0; i < c.L; ++i)
          if (is_global(c, b, i)) mask[size_t(b) * c.L + i] = 1, ++count[b];
      for (int b = 0; b < c.B; ++b) max_g = std::max(max_g, count[b]);
      std::vector<int32_t> list(size_t(c.B) * max_g, -1);
      for (int b = 0; b < c.B; ++b)
        for (int i = 0, n = 0; i < c.L; ++i)
          if (mask[size_t(b) * c.L + i]) list[size_t(b) * max_g + n++] = i;
      g_mask = upload(ctx(), mask);
      g_list = upload(ctx(), list);
      g_count = upload(ctx(), count);
      globals = std::make_unique<AttentionGlobals>(c.B, c.L, g_mask.as<uint8_t>(), g_list.as<int32_t>(), max_g,
                                                   g_count.as<int32_t>());
    }

    AttentionShape shape{c.B, c.L, c.H, c.D};
    AttentionPattern pattern{c.window, c.dilation};
    const bf16* base = d_qkv.as<bf16>();
    AttentionForwardArgs fa;
    fa.q = base;
    fa.k = base + HD;
    fa.v = base + 2 * HD;
    fa.ld_qkv = ld;
    fa.lengths = d_len.as<int32_t>();
    fa.globals = globals.get();
    fa.out = d_out.as<bf16>();
    fa.ld_out = HD;
    fa.lse = d_lse.as<float>();
    attention_forward(ctx(), shape, pattern, fa);

    AttentionBackwardArgs ba;
    ba.q = fa.q;
    ba.k = fa.k;
    ba.v = fa.v;
    ba.ld_qkv = ld;
    ba.lengths = fa.lengths;
    ba.globals = fa.globals;
    ba.out = fa.out;
    ba.dout = d_dout.as<bf16>();
    ba.ld_out = HD;
    ba.lse = fa.lse;
    bf16* dbase = d_dqkv.as<bf16>();
    ba.dq = dbase;
    ba.dk = dbase + HD;
    ba.dv = dbase + 2 * HD;
    ba.ld_dqkv = ld;
    attention_backward(ctx(), shape, pattern, ba);
    if (twice) {  // gradients add up: the result must be twice the reference
      ba.accumulate = true;
      attention_backward(ctx(), shape, pattern, ba);
      for (auto* g : {&ref.dq, &ref.dk, &ref.dv})
        for (auto& x : *g) x *= 2;
    }

    auto out = download_bf16(ctx(), d_out, rows * HD);
    auto lse = download<float>(ctx(), d_lse, size_t(c.B) * c.H * c.L);
    auto dqkv = download_bf16(ctx(), d_dqkv, rows * ld);
    std::vector<float> dq(rows * HD), dk(rows * HD), dv(rows * HD);
    for (size_t r = 0; r < rows; ++r)
      for (int e = 0; e < HD; ++e) {
        dq[r * HD + e] = dqkv[r * ld + e];
        dk[r * HD + e] = dqkv[r * ld + HD + e];
        dv[r * HD + e] = dqkv[r * ld + 2 * HD + e];
      }
    const double e_out = rel_err(out, ref.out), e_lse = lse_err(lse, ref.lse), e_dq = rel_err(dq, ref.dq),
                 e_dk = rel_err(dk, ref.dk), e_dv = rel_err(dv, ref.dv);
    std::printf("  attention B=%d L=%d H=%d D=%d w=%d: out %.2e lse %.2e dq %.2e dk %.2e dv %.2e\n", c.B, c.L, c.H,
                c.D, c.window, e_out, e_lse, e_dq, e_dk, e_dv);
    EXPECT_LT(e_out, kTolBf16);
    EXPECT_LT(e_lse, kTolF32);
    EXPECT_LT(e_dq, kTolBf16);
    EXPECT_LT(e_dk, kTolBf16);
    EXPECT_LT(e_dv, kTolBf16);
    // Rows beyond an example's length are exactly zero (reference zeros too, checked above),
    // and nothing is left unwritten (NaN poison would have made the errors infinite).
  }
};

TEST_F(CudaAttention, WindowDilationGlobalsAndPadding) {
  RefConfig c{2, 200, 2, 64, 16, {1, 2}, {200, 137}, {{{0, 1}, {50, 51}, {150, 200}}, {{0, 1}, {40, 41}, {100, 200}}}};
  run(c, 1);
}

TEST_F(CudaAttention, ManyGlobalsInSeveralChunks) {
  RefConfig c{2, 256, 2, 64, 4, {1, 3}, {256, 250}, {{{0, 1}, {100, 180}}, {{0, 2}, {120, 200}, {249, 256}}}};
  run(c, 2);
}

TEST_F(CudaAttention, DensePathHeadDim32) {
  RefConfig c{2, 130, 3, 32, 1000, {1, 1, 1}, {130, 77}, {}};
  run(c, 3);
}

TEST_F(CudaAttention, HeadDim128DilatedWindowNoGlobals) {
  RefConfig c{1, 96, 1, 128, 8, {3}, {96}, {}};
  run(c, 4);
}

TEST_F(CudaAttention, PaddingQueriesWithoutVisibleKeys) {
  // No globals and a short example: padding queries far past its end see no key.
  RefConfig c{2, 160, 2, 64, 4, {1, 2}, {40, 160}, {}};
  run(c, 5);
}

TEST_F(CudaAttention, ModelLayoutGlobalsAndAccumulation) {
  RefConfig c{3, 192, 2, 64, 8, {2, 1}, {192, 100, 150},
              {{{0, 1}, {70, 71}, {71, 192}}, {{0, 1}, {30, 31}}, {{0, 3}, {120, 150}}}};
  run(c, 6, /*view_globals=*/true, /*twice=*/true);
}

TEST_F(CudaAttention, LongSequenceManyTiles) {
  RefConfig c{1, 1000, 2, 64, 48, {1, 4}, {937}, {{{0, 1}, {300, 301}, {700, 760}}}};
  run(c, 7);
}

// A window wider than two tiles: most band tiles lie wholly inside it and skip
// the per-element mask; a single global token; one padded example.
TEST_F(CudaAttention, WideWindowFullTilesSingleGlobal) {
  RefConfig c{2, 640, 2, 64, 200, {1, 2}, {640, 517}, {{{0, 1}}, {{3, 4}}}};
  run(c, 8);
}

// Head width 128, a length that is not a multiple of the 64-row tile, a wide window.
TEST_F(CudaAttention, HeadDim128WideWindowUnalignedLength) {
  RefConfig c{1, 333, 1, 128, 130, {1}, {333}, {{{5, 6}}}};
  run(c, 9, /*view_globals=*/false, /*twice=*/true);
}

// Global rows as their own problem: more than one 64-row tile of global
// positions (a 70-token range), a sequence longer than one 1,024-position
// chunk (partials merged over three chunks), globals past an example's
// length, padding, dilation, and gradients added twice.
TEST_F(CudaAttention, GlobalRowsInSeveralTilesAndChunks) {
  RefConfig c{2, 2500, 2, 64, 40, {1, 3}, {2500, 1800},
              {{{0, 1}, {1000, 1070}, {2400, 2401}}, {{5, 6}, {1790, 1820}}}};
  run(c, 10, /*view_globals=*/false, /*twice=*/true);
}

TEST_F(CudaAttention, LengthsFromValidMask) {
  const int B = 3, L = 100;
  std::vector<uint8_t> valid(B * L, 0);
  const int len[B] = {100, 0, 37};
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < len[b]; ++i) valid[b * L + i] = 1;
  DeviceBuffer dv = upload(ctx(), valid), dl = poisoned(ctx(), B * 4);
  attention_lengths_from_valid(ctx(), dv.as<uint8_t>(), B, L, dl.as<int32_t>());
  EXPECT_EQ(download<int32_t>(ctx(), dl, B), (std::vector<int32_t>{100, 0, 37}));
}

TEST_F(CudaAttention, RejectsUnsupportedShapes) {
  AttentionShape shape{1, 16, 1, 48};
  AttentionForwardArgs fa;
  EXPECT_THROW(attention_forward(ctx(), shape, AttentionPattern{4, {}}, fa), mds::Error);
}

}  // namespace

#else
TEST(CudaAttention, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif  // MDS_HAVE_CUDA
