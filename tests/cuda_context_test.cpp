// Tests of the CUDA context and memory pool (reuse, statistics, ownership
// errors) and of the host bf16 conversions (these run without a GPU).
#include <gtest/gtest.h>

#ifdef MDS_HAVE_CUDA

#include <cmath>
#include <cstring>
#include <random>

#include "cuda_test_util.h"
#include "kernels/context.h"

namespace {

using namespace mds::cuda;
using namespace mds::cuda::testing;

TEST(CudaBf16Host, RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa (1.0) wins.
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(INFINITY))));
  std::mt19937 rng(1);
  for (int i = 0; i < 1000; ++i) {
    const float x = std::uniform_real_distribution<float>(-100, 100)(rng);
    const float y = bf16_to_float(float_to_bf16(x));
    EXPECT_LE(std::fabs(x - y), std::fabs(x) * (1.0f / 256)) << x;
  }
}

TEST(CudaPool, RoundsSizes) {
  EXPECT_EQ(MemoryPool::round_size(1), 512u);
  EXPECT_EQ(MemoryPool::round_size(513), 1024u);
  EXPECT_EQ(MemoryPool::round_size((1u << 20) + 1), 2u << 20);
}

class CudaContext : public GpuTest {};

TEST_F(CudaContext, PoolReusesFreedBlocks) {
  MemoryPool& pool = ctx().pool();
  const size_t allocs0 = pool.device_allocations();
  void* first;
  {
    DeviceBuffer a = ctx().alloc(1000);
    first = a.data();
    EXPECT_EQ(pool.bytes_in_use(), 1024u);
  }
  EXPECT_EQ(pool.bytes_in_use(), 0u);
  EXPECT_EQ(pool.bytes_cached(), 1024u);
  DeviceBuffer b = ctx().alloc(1024);
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(pool.device_allocations(), allocs0 + 1);
  DeviceBuffer c = ctx().alloc(3 << 20);
  EXPECT_EQ(pool.bytes_in_use(), 1024u + (4u << 20));
  EXPECT_GE(pool.peak_bytes_in_use(), pool.bytes_in_use());
  EXPECT_THROW(pool.release(reinterpret_cast<void*>(0x1234)), mds::Error);
  c.reset();
  pool.empty_cache();
  EXPECT_EQ(pool.bytes_cached(), 0u);
}

TEST_F(CudaContext, UploadDownloadRoundTrip) {
  std::mt19937 rng(3);
  auto v = random_floats(rng, 12345);
  DeviceBuffer d = upload(ctx(), v);
  EXPECT_EQ(download<float>(ctx(), d, v.size()), v);
  EXPECT_GT(ctx().info().sm_count, 0);
  EXPECT_GT(ctx().info().smem_per_block_optin, 48u * 1024);
}

TEST_F(CudaContext, BadDeviceIndexIsAUsageError) {
  try {
    Context bad(1000);
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::usage);
  }
}

}  // namespace

#else
TEST(CudaContext, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }
#endif
