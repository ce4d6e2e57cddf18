// Tests of the cuBLASLt GEMM wrapper: every transpose combination, fp32 and
// bf16 outputs, accumulation (beta = 1), strided batches and leading
// dimensions wider than the rows, against a double-precision CPU product.
#include <gtest/gtest.h>

#ifdef MDS_HAVE_CUDA

#include <cstdio>
#include <random>

#include "cuda_test_util.h"
#include "kernels/gemm.h"

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

class CudaGemm : public GpuTest {
 protected:
  void check(bool ta, bool tb, int m, int n, int k, DType ct, float alpha, float beta, int batch, int pad,
             uint32_t seed) {
    std::mt19937 rng(seed);
    const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
    const long long sa = (long long)a_rows * lda, sb = (long long)b_rows * ldb, sc = (long long)m * ldc;
    auto A = random_bf16_values(rng, size_t(sa) * batch), B = random_bf16_values(rng, size_t(sb) * batch);
    auto C0 = ct == DType::f32 ? random_floats(rng, size_t(sc) * batch) : random_bf16_values(rng, size_t(sc) * batch);
    std::vector<double> ref(C0.begin(), C0.end());
    for (int bt = 0; bt < batch; ++bt)
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double s = 0;
          for (int p = 0; p < k; ++p) {
            const double a = ta ? A[bt * sa + (long long)p * lda + i] : A[bt * sa + (long long)i * lda + p];
            const double b = tb ? B[bt * sb + (long long)j * ldb + p] : B[bt * sb + (long long)p * ldb + j];
            s += a * b;
          }
          double& c = ref[bt * sc + (long long)i * ldc + j];
          c = alpha * s + beta * c;
        }
    DeviceBuffer dA = upload_bf16(ctx(), A), dB = upload_bf16(ctx(), B);
    DeviceBuffer dC = ct == DType::f32 ? upload(ctx(), C0) : upload_bf16(ctx(), C0);
    if (beta == 0.f) {  // C is write-only: poison it (padding columns stay poisoned and are skipped below)
      MDS_CUDA_CHECK(cudaMemsetAsync(dC.data(), 0xFF, dC.bytes(), ctx().stream()));
    }
    GemmBatch gb{batch, sa, sb, sc};
    gemm(ctx(), ta, tb, m, n, k, alpha, dA.as<bf16>(), lda, dB.as<bf16>(), ldb, beta, dC.data(), ct, ldc, gb);
    auto out = ct == DType::f32 ? download<float>(ctx(), dC, size_t(sc) * batch) : download_bf16(ctx(), dC, size_t(sc) * batch);
    std::vector<float> o;
    std::vector<double> r;
    for (int bt = 0; bt < batch; ++bt)
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          o.push_back(out[bt * sc + (long long)i * ldc + j]);
          r.push_back(ref[bt * sc + (long long)i * ldc + j]);
        }
    const double err = rel_err(o, r);
    std::printf("  gemm ta=%d tb=%d %dx%dx%d %s beta=%.0f batch=%d: rel err %.2e\n", ta, tb, m, n, k,
                ct == DType::f32 ? "f32" : "bf16", beta, batch, err);
    // fp32 output: only the bf16 inputs are rounded, accumulation is fp32.
    EXPECT_LT(err, ct == DType::f32 ? kTolF32 : kTolBf16);
  }
};

TEST_F(CudaGemm, AllTransposesFp32Out) {
  uint32_t seed = 10;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) check(ta, tb, 67, 45, 96, DType::f32, 1.f, 0.f, 1, 0, seed++);
}

TEST_F(CudaGemm, AllTransposesBf16OutPadded) {
  uint32_t seed = 20;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) check(ta, tb, 128, 72, 200, DType::bf16, 0.5f, 0.f, 1, 8, seed++);
}

TEST_F(CudaGemm, AccumulatesIntoFp32) { check(true, false, 64, 48, 333, DType::f32, 1.f, 1.f, 1, 0, 30); }

TEST_F(CudaGemm, StridedBatch) {
  check(false, true, 40, 24, 64, DType::bf16, 1.f, 0.f, 3, 0, 40);
  check(false, false, 33, 17, 50, DType::f32, 2.f, 1.f, 4, 3, 41);
}

TEST_F(CudaGemm, RejectsBadShapes) {
  DeviceBuffer b = ctx().alloc(1024);
  EXPECT_THROW(gemm(ctx(), false, false, 4, 4, 0, 1.f, b.as<bf16>(), 4, b.as<bf16>(), 4, 0.f, b.data(), DType::f32, 4),
               mds::Error);
  EXPECT_THROW(gemm(ctx(), false, false, 4, 4, 8, 1.f, b.as<bf16>(), 4, b.as<bf16>(), 4, 0.f, b.data(), DType::f32, 4),
               mds::Error);
}

}  // namespace

#else
TEST(CudaGemm, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
