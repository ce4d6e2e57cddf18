// Tests of the fused rounding cross-entropy (logits against the tied
// embedding, never materialised) against a double-precision CPU reference:
// per-token nll and lse, dh, and accumulated embedding and bias gradients.
#include <gtest/gtest.h>

#ifdef MDS_HAVE_CUDA

#include <cmath>
#include <cstdio>
#include <random>

#include "cuda_test_util.h"
#include "kernels/cross_entropy.h"

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

class CudaCrossEntropy : public GpuTest {
 protected:
  void run(int tokens, int vocab, int dim, bool with_bias, uint32_t seed) {
    std::mt19937 rng(seed);
    auto h = random_bf16_values(rng, size_t(tokens) * dim, -1.f, 1.f);
    auto emb = random_bf16_values(rng, size_t(vocab) * dim, -1.f, 1.f);
    auto bias = random_floats(rng, vocab, -0.5f, 0.5f);
    auto grad = random_floats(rng, tokens, 0.1f, 1.f);
    std::vector<int32_t> tgt(tokens);
    for (auto& t : tgt) t = int(rng() % vocab);
    tgt[0] = -1;  // ignored token
    if (tokens > 3) tgt[3] = vocab + 5;  // out of range: ignored as well
    auto demb0 = random_floats(rng, emb.size()), dbias0 = random_floats(rng, vocab);

    std::vector<double> nll(tokens), lse(tokens), dh(h.size(), 0.0);
    std::vector<double> demb(demb0.begin(), demb0.end()), dbias(dbias0.begin(), dbias0.end());
    std::vector<double> logit(vocab);
    for (int t = 0; t < tokens; ++t) {
      double mx = -1e300;
      for (int v = 0; v < vocab; ++v) {
        double s = with_bias ? bias[v] : 0.0;
        for (int d = 0; d < dim; ++d) s += double(h[size_t(t) * dim + d]) * emb[size_t(v) * dim + d];
        logit[v] = s;
        mx = std::max(mx, s);
      }
      double sum = 0;
      for (int v = 0; v < vocab; ++v) sum += std::exp(logit[v] - mx);
      lse[t] = mx + std::log(sum);
      const bool valid = tgt[t] >= 0 && tgt[t] < vocab;
      nll[t] = valid ? lse[t] - logit[tgt[t]] : 0.0;
      if (!valid) continue;
      for (int v = 0; v < vocab; ++v) {
        const double ds = grad[t] * (std::exp(logit[v] - lse[t]) - (v == tgt[t] ? 1.0 : 0.0));
        for (int d = 0; d < dim; ++d) {
          dh[size_t(t) * dim + d] += ds * emb[size_t(v) * dim + d];
          demb[size_t(v) * dim + d] += ds * h[size_t(t) * dim + d];
        }
        dbias[v] += ds;
      }
    }
    DeviceBuffer dH = upload_bf16(ctx(), h), dE = upload_bf16(ctx(), emb), dBias = upload(ctx(), bias),
                 dG = upload(ctx(), grad), dT = upload(ctx(), tgt), dDE = upload(ctx(), demb0),
                 dDB = upload(ctx(), dbias0);
    DeviceBuffer dNll = poisoned(ctx(), tokens * 4), dLse = poisoned(ctx(), tokens * 4),
                 dDH = poisoned(ctx(), h.size() * 2);
    RoundingCeArgs a;
    a.h = dH.as<bf16>();
    a.ld_h = dim;
    a.emb = dE.as<bf16>();
    a.bias = with_bias ? dBias.as<float>() : nullptr;
    a.targets = dT.as<int32_t>();
    a.tokens = tokens;
    a.vocab = vocab;
    a.dim = dim;
    rounding_ce_forward(ctx(), a, dNll.as<float>(), dLse.as<float>());
    rounding_ce_backward(ctx(), a, dLse.as<float>(), dG.as<float>(), dDH.as<bf16>(), dDE.as<float>(),
                         with_bias ? dDB.as<float>() : nullptr);
    const double en = rel_err(download<float>(ctx(), dNll, tokens), nll);
    const double el = rel_err(download<float>(ctx(), dLse, tokens), lse);
    const double eh = rel_err(download_bf16(ctx(), dDH, h.size()), dh);
    // Compare the increments, so the random starting gradients do not hide errors.
    auto de = download<float>(ctx(), dDE, emb.size());
    auto db = download<float>(ctx(), dDB, vocab);
    std::vector<float> de_inc(de.size()), db_inc(db.size());
    std::vector<double> re_inc(de.size()), rb_inc(db.size());
    for (size_t i = 0; i < de.size(); ++i) {
      de_inc[i] = de[i] - demb0[i];
      re_inc[i] = demb[i] - demb0[i];
    }
    for (size_t i = 0; i < db.size(); ++i) {
      db_inc[i] = db[i] - dbias0[i];
      rb_inc[i] = dbias[i] - dbias0[i];
    }
    const double ee = rel_err(de_inc, re_inc);
    const double eb = with_bias ? rel_err(db_inc, rb_inc) : 0.0;
    if (!with_bias) EXPECT_EQ(db, dbias0);  // no bias: its gradient is untouched
    std::printf("  rounding CE T=%d V=%d d=%d bias=%d: nll %.2e lse %.2e dh %.2e demb %.2e dbias %.2e\n", tokens, vocab,
                dim, int(with_bias), en, el, eh, ee, eb);
    EXPECT_LT(en, kTolF32);
    EXPECT_LT(el, kTolF32);
    EXPECT_LT(eh, kTolBf16);
    EXPECT_LT(ee, kTolBf16);  // dlogits pass through bf16 before the product with h
    EXPECT_LT(eb, kTolF32);
    // Accumulating dh: a second backward doubles it.
    rounding_ce_backward(ctx(), a, dLse.as<float>(), dG.as<float>(), dDH.as<bf16>(), dDE.as<float>(),
                         with_bias ? dDB.as<float>() : nullptr, /*accumulate_dh=*/true);
    for (auto& v : dh) v *= 2;
    EXPECT_LT(rel_err(download_bf16(ctx(), dDH, h.size()), dh), kTolBf16);
  }
};

TEST_F(CudaCrossEntropy, Dim128WithBias) { run(300, 1000, 128, true, 1); }
TEST_F(CudaCrossEntropy, Dim64NoBiasFewTokens) { run(37, 2500, 64, false, 2); }
TEST_F(CudaCrossEntropy, Dim32) { run(129, 130, 32, true, 3); }

}  // namespace

#else
TEST(CudaCrossEntropy, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
