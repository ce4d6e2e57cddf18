// Tests of rounding predicted embeddings to token ids (argmax of the tied
// logits, and nearest embedding row) against a CPU reference, including the
// lower-index tie rule.
#include <gtest/gtest.h>

#ifdef MDS_HAVE_CUDA

#include <cmath>
#include <random>

#include "cuda_test_util.h"
#include "kernels/rounding.h"

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

class CudaRounding : public GpuTest {
 protected:
  // h_t is a scaled embedding row plus noise, so the reference's best entry
  // wins by a clear margin and bf16 rounding cannot change the answer.
  void run(RoundingMode mode, int tokens, int vocab, int dim, uint32_t seed) {
    std::mt19937 rng(seed);
    auto emb = random_bf16_values(rng, size_t(vocab) * dim, -1.f, 1.f);
    // Duplicate rows: equal scores must resolve to the lower index.
    for (int d = 0; d < dim; ++d) emb[size_t(9) * dim + d] = emb[size_t(5) * dim + d];
    auto bias = random_floats(rng, vocab, -0.1f, 0.1f);
    std::vector<int32_t> src(tokens);
    for (auto& s : src) s = int(rng() % vocab);
    src[0] = 9;  // ties with row 5
    std::normal_distribution<float> noise(0.f, 0.02f);
    std::vector<float> h(size_t(tokens) * dim);
    const float scale = mode == RoundingMode::nearest ? 1.f : 2.f;
    for (int t = 0; t < tokens; ++t)
      for (int d = 0; d < dim; ++d) h[size_t(t) * dim + d] = scale * emb[size_t(src[t]) * dim + d] + noise(rng);
    for (auto& x : h) x = bf16_to_float(float_to_bf16(x));
    std::vector<int32_t> ref(tokens);
    for (int t = 0; t < tokens; ++t) {
      double best = -1e300;
      int bi = -1;
      for (int v = 0; v < vocab; ++v) {
        double val = 0;
        if (mode == RoundingMode::nearest) {
          for (int d = 0; d < dim; ++d) {
            const double e = double(emb[size_t(v) * dim + d]) - h[size_t(t) * dim + d];
            val -= e * e;
          }
        } else {
          val = bias[v];
          for (int d = 0; d < dim; ++d) val += double(emb[size_t(v) * dim + d]) * h[size_t(t) * dim + d];
        }
        if (val > best) best = val, bi = v;
      }
      ref[t] = bi;
    }
    EXPECT_EQ(ref[0], 5);
    DeviceBuffer dH = upload_bf16(ctx(), h), dE = upload_bf16(ctx(), emb), dB = upload(ctx(), bias);
    DeviceBuffer dI = poisoned(ctx(), tokens * 4);
    rounding_ids(ctx(), mode, dH.as<bf16>(), dim, dE.as<bf16>(), dB.as<float>(), tokens, vocab, dim,
                 dI.as<int32_t>());
    EXPECT_EQ(download<int32_t>(ctx(), dI, tokens), ref);
  }
};

TEST_F(CudaRounding, NearestDim128) { run(RoundingMode::nearest, 300, 1000, 128, 1); }
TEST_F(CudaRounding, ArgmaxLogitsDim64) { run(RoundingMode::argmax_logits, 77, 3001, 64, 2); }
TEST_F(CudaRounding, NearestDim32ManySplits) { run(RoundingMode::nearest, 40, 5000, 32, 3); }

}  // namespace

#else
TEST(CudaRounding, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
