// Sliding-window + global sparse attention: forward against an O(L^2)
// masked reference (window, dilation, globals, key padding), gradients by
// finite differences in double precision, and sparse == dense when the
// window covers the sequence (the DiffuSeq case).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "cpu/cpu_backend.h"
#include "gradcheck.h"

namespace mds {
namespace {

using namespace testing_util;

struct Case {
  int B, L, heads, D, window;
  std::vector<int> dilation;
  std::vector<int> lengths;                // valid prefix per example
  std::vector<std::vector<int>> globals;  // per example
};

AttentionPattern make_pattern(Backend& be, const Case& c) {
  AttentionPattern p;
  std::vector<uint8_t> valid(c.B * c.L, 0), glob(c.B * c.L, 0);
  p.max_globals = 0;
  for (auto& g : c.globals) p.max_globals = std::max<int>(p.max_globals, g.size());
  std::vector<int32_t> gpos(c.B * std::max(1, p.max_globals), -1), gcount(c.B);
  for (int b = 0; b < c.B; ++b) {
    for (int l = 0; l < c.lengths[b]; ++l) valid[b * c.L + l] = 1;
    gcount[b] = c.globals[b].size();
    for (size_t g = 0; g < c.globals[b].size(); ++g) {
      glob[b * c.L + c.globals[b][g]] = 1;
      gpos[b * p.max_globals + g] = c.globals[b][g];
    }
  }
  p.valid = make_u8(be, {c.B * c.L}, valid);
  p.is_global = make_u8(be, {c.B * c.L}, glob);
  p.global_pos = be.alloc({int64_t(c.B) * p.max_globals}, ElemType::i32);
  if (p.max_globals) be.upload(p.global_pos, gpos.data());
  p.global_count = make_i32(be, {c.B}, gcount);
  return p;
}

// O(L^2) reference with an explicit mask; `dense` ignores the window.
std::vector<double> reference(const Case& c, const std::vector<double>& qkv, bool dense) {
  const int H = c.heads * c.D;
  std::vector<double> out(c.B * c.L * H, 0.0);
  for (int b = 0; b < c.B; ++b) {
    std::vector<uint8_t> glob(c.L, 0);
    for (int g : c.globals[b]) glob[g] = 1;
    for (int h = 0; h < c.heads; ++h) {
      const int d = c.dilation[h];
      for (int i = 0; i < c.L; ++i) {
        std::vector<double> s(c.L, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < c.L; ++j) {
          if (j >= c.lengths[b]) continue;
          const int diff = std::abs(i - j);
          const bool allowed = dense || glob[i] || glob[j] || (diff <= c.window * d && diff % d == 0);
          if (!allowed) continue;
          double dot = 0;
          for (int k = 0; k < c.D; ++k)
            dot += qkv[(b * c.L + i) * 3 * H + h * c.D + k] * qkv[(b * c.L + j) * 3 * H + H + h * c.D + k];
          s[j] = dot / std::sqrt(double(c.D));
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int j = 0; j < c.L; ++j) z += std::isinf(s[j]) ? 0 : std::exp(s[j] - mx);
        for (int j = 0; j < c.L; ++j) {
          if (std::isinf(s[j])) continue;
          const double p = std::exp(s[j] - mx) / z;
          for (int k = 0; k < c.D; ++k)
            out[(b * c.L + i) * H + h * c.D + k] += p * qkv[(b * c.L + j) * 3 * H + 2 * H + h * c.D + k];
        }
      }
    }
  }
  return out;
}

AttentionShape shape_of(const Case& c) {
  AttentionShape s;
  s.batch = c.B;
  s.seq_len = c.L;
  s.heads = c.heads;
  s.head_dim = c.D;
  s.window = c.window;
  s.dilation = c.dilation;
  return s;
}

class OpsAttention : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend(2, CpuPrecision::f64);
  std::mt19937_64 rng{99};
};

TEST_F(OpsAttention, SparseForwardMatchesMaskedReference) {
  Case c{2, 23, 3, 4, 2, {1, 2, 3}, {23, 17}, {{0, 9, 22}, {0, 5}}};
  AttentionPattern p = make_pattern(*be, c);
  const int H = c.heads * c.D;
  auto hq = random_vec(rng, c.B * c.L * 3 * H);
  Tensor qkv = make_real(*be, {c.B * c.L, 3 * H}, hq), out = be->alloc({c.B * c.L, H}), lse = be->alloc({c.B * c.heads * c.L});
  be->attention_forward(shape_of(c), p, qkv, out, lse);
  auto got = host(*be, out), want = reference(c, hq, false);
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LT(worst, 1e-12);
}

TEST_F(OpsAttention, SparseGradientsWithDilationGlobalsAndPadding) {
  Case c{2, 13, 2, 3, 2, {1, 2}, {13, 9}, {{0, 6, 12}, {0, 4, 8}}};
  AttentionPattern p = make_pattern(*be, c);
  const int H = c.heads * c.D;
  Tensor qkv = make_random(*be, rng, {c.B * c.L, 3 * H}), out = be->alloc({c.B * c.L, H}), lse = be->alloc({c.B * c.heads * c.L});
  auto r = random_vec(rng, c.B * c.L * H);
  // Padding rows' outputs are never used by the model; include them anyway.
  auto loss = [&] {
    be->attention_forward(shape_of(c), p, qkv, out, lse);
    return dot(host(*be, out), r);
  };
  loss();
  Tensor dout = make_real(*be, {c.B * c.L, H}, r), dqkv = be->alloc({c.B * c.L, 3 * H});
  be->attention_backward(shape_of(c), p, qkv, out, lse, dout, dqkv);
  EXPECT_GRAD_OK(check_gradient(*be, qkv, host(*be, dqkv), loss, 400), 1e-6);
}

// Several query blocks (the kernel tiles 32 queries), wide dilation, globals
// inside and outside each block's key range, a padded example.
TEST_F(OpsAttention, MultiBlockForwardAndGradients) {
  Case c{2, 100, 2, 3, 5, {1, 3}, {100, 71}, {{0, 3, 50, 99}, {0, 40, 70}}};
  AttentionPattern p = make_pattern(*be, c);
  const int H = c.heads * c.D;
  auto hq = random_vec(rng, c.B * c.L * 3 * H);
  Tensor qkv = make_real(*be, {c.B * c.L, 3 * H}, hq), out = be->alloc({c.B * c.L, H}), lse = be->alloc({c.B * c.heads * c.L});
  be->attention_forward(shape_of(c), p, qkv, out, lse);
  auto got = host(*be, out), want = reference(c, hq, false);
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LT(worst, 1e-12);
  auto r = random_vec(rng, c.B * c.L * H);
  auto loss = [&] {
    be->attention_forward(shape_of(c), p, qkv, out, lse);
    return dot(host(*be, out), r);
  };
  Tensor dout = make_real(*be, {c.B * c.L, H}, r), dqkv = be->alloc({c.B * c.L, 3 * H});
  be->attention_backward(shape_of(c), p, qkv, out, lse, dout, dqkv);
  EXPECT_GRAD_OK(check_gradient(*be, qkv, host(*be, dqkv), loss, 300), 1e-6);
}

TEST_F(OpsAttention, WindowCoveringSequenceEqualsDenseAttention) {
  Case c{2, 75, 2, 5, 1 << 20, {1, 1}, {75, 50}, {{0, 74}, {0, 49}}};
  AttentionPattern p = make_pattern(*be, c);
  const int H = c.heads * c.D;
  auto hq = random_vec(rng, c.B * c.L * 3 * H);
  Tensor qkv = make_real(*be, {c.B * c.L, 3 * H}, hq), out = be->alloc({c.B * c.L, H}), lse = be->alloc({c.B * c.heads * c.L});
  be->attention_forward(shape_of(c), p, qkv, out, lse);
  auto got = host(*be, out), want = reference(c, hq, true);
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LT(worst, 1e-12);
  // Same in float (the production path), to float accuracy.
  auto fbe = make_cpu_backend(2, CpuPrecision::f32);
  AttentionPattern fp = make_pattern(*fbe, c);
  Tensor fq = make_real(*fbe, {c.B * c.L, 3 * H}, hq), fo = fbe->alloc({c.B * c.L, H}), fl = fbe->alloc({c.B * c.heads * c.L});
  fbe->attention_forward(shape_of(c), fp, fq, fo, fl);
  auto fgot = host(*fbe, fo);
  worst = 0;
  for (size_t i = 0; i < fgot.size(); ++i) worst = std::max(worst, std::abs(fgot[i] - want[i]));
  EXPECT_LT(worst, 1e-5);
  // and the window = L case (what ModelConfig window 0 means) also matches.
  c.window = c.L;
  be->attention_forward(shape_of(c), p, qkv, out, lse);
  got = host(*be, out);
  worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LT(worst, 1e-12);
}

TEST_F(OpsAttention, DenseGradients) {
  Case c{1, 9, 2, 3, 100, {1, 1}, {9}, {{0}}};
  AttentionPattern p = make_pattern(*be, c);
  const int H = c.heads * c.D;
  Tensor qkv = make_random(*be, rng, {c.L, 3 * H}), out = be->alloc({c.L, H}), lse = be->alloc({c.heads * c.L});
  auto r = random_vec(rng, c.L * H);
  auto loss = [&] {
    be->attention_forward(shape_of(c), p, qkv, out, lse);
    return dot(host(*be, out), r);
  };
  loss();
  Tensor dout = make_real(*be, {c.L, H}, r), dqkv = be->alloc({c.L, 3 * H});
  be->attention_backward(shape_of(c), p, qkv, out, lse, dout, dqkv);
  EXPECT_GRAD_OK(check_gradient(*be, qkv, host(*be, dqkv), loss, 200), 1e-6);
}

TEST_F(OpsAttention, LongSequenceRunsInLinearMemory) {
  // L = 20000 with a window of 4: an L x L score matrix would need 3.2 GB in
  // double; the kernel needs O(L) scratch and finishes quickly.
  auto fbe = make_cpu_backend(2, CpuPrecision::f32);
  Case c{1, 20000, 1, 4, 4, {1}, {20000}, {{0, 19999}}};
  AttentionPattern p = make_pattern(*fbe, c);
  Tensor qkv = make_random(*fbe, rng, {c.L, 12}), out = fbe->alloc({c.L, 4}), lse = fbe->alloc({c.L});
  fbe->attention_forward(shape_of(c), p, qkv, out, lse);
  Tensor dqkv = fbe->alloc({c.L, 12});
  fbe->attention_backward(shape_of(c), p, qkv, out, lse, out, dqkv);
  EXPECT_TRUE(std::isfinite(fbe->sum_squares(dqkv)));
}

TEST_F(OpsAttention, RejectsBadPattern) {
  Case c{1, 5, 1, 2, 1, {1}, {5}, {{7}}};
  AttentionPattern p;
  p.valid = make_u8(*be, {5}, {1, 1, 1, 1, 1});
  p.is_global = make_u8(*be, {5}, {0, 0, 0, 0, 0});
  p.global_pos = make_i32(*be, {1}, {7});
  p.global_count = make_i32(*be, {1}, {1});
  p.max_globals = 1;
  Tensor qkv = make_random(*be, rng, {5, 6}), out = be->alloc({5, 2}), lse = be->alloc({5});
  EXPECT_THROW(be->attention_forward(shape_of(c), p, qkv, out, lse), Error);
  AttentionShape s = shape_of(c);
  s.dilation = {};
  p.global_pos = make_i32(*be, {1}, {0});
  EXPECT_THROW(be->attention_forward(s, p, qkv, out, lse), Error);
}

}  // namespace
}  // namespace mds
