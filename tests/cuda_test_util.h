// Helpers shared by the CUDA kernel tests: GPU detection (tests skip cleanly
// without a device), random bf16 data, host<->device copies, output poisoning
// and the relative error ‖out − ref‖ / ‖ref‖.
#pragma once

#ifdef MDS_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/context.h"

namespace mds::cuda::testing {

// Holds one Context per test; skips the test when no GPU is usable.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!device_available(&why)) GTEST_SKIP() << why;
    ctx_ = std::make_unique<Context>(0);
  }
  Context& ctx() { return *ctx_; }
  std::unique_ptr<Context> ctx_;
};

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Values exactly representable in bf16 (so CPU references see the GPU's inputs).
inline std::vector<float> random_bf16_values(std::mt19937& rng, size_t n, float lo = -1.f, float hi = 1.f) {
  auto v = random_floats(rng, n, lo, hi);
  for (auto& x : v) x = bf16_to_float(float_to_bf16(x));
  return v;
}

inline std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = float_to_bf16(v[i]);
  return o;
}

inline std::vector<float> from_bf16(const std::vector<bf16>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = bf16_to_float(v[i]);
  return o;
}

template <typename T>
DeviceBuffer upload(Context& ctx, const std::vector<T>& host) {
  DeviceBuffer b = ctx.alloc(std::max<size_t>(host.size() * sizeof(T), 1));
  ctx.upload(b.data(), host.data(), host.size() * sizeof(T));
  ctx.synchronize();
  return b;
}

inline DeviceBuffer upload_bf16(Context& ctx, const std::vector<float>& host) { return upload(ctx, to_bf16(host)); }

template <typename T>
std::vector<T> download(Context& ctx, const DeviceBuffer& b, size_t n) {
  std::vector<T> host(n);
  ctx.synchronize();
  ctx.download(host.data(), b.data(), n * sizeof(T));
  ctx.synchronize();
  return host;
}

// From a device pointer the test does not own (e.g. arrays inside MoeRouting).
template <typename T>
std::vector<T> download_ptr(Context& ctx, const void* p, size_t n) {
  std::vector<T> host(n);
  ctx.synchronize();
  ctx.download(host.data(), p, n * sizeof(T));
  ctx.synchronize();
  return host;
}

inline std::vector<float> download_bf16(Context& ctx, const DeviceBuffer& b, size_t n) {
  return from_bf16(download<bf16>(ctx, b, n));
}

// An output buffer filled with 0xFF bytes: NaN as fp32 and bf16, so any element
// a kernel fails to write shows up as non-finite.
inline DeviceBuffer poisoned(Context& ctx, size_t bytes) {
  DeviceBuffer b = ctx.alloc(std::max<size_t>(bytes, 1));
  MDS_CUDA_CHECK(cudaMemsetAsync(b.data(), 0xFF, bytes, ctx.stream()));
  return b;
}

inline bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// ‖out − ref‖ / ‖ref‖ (∞ if out holds a non-finite value).
inline double rel_err(const std::vector<float>& out, const std::vector<double>& ref) {
  if (out.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    const double d = double(out[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline double rel_err(const std::vector<float>& out, const std::vector<float>& ref) {
  return rel_err(out, std::vector<double>(ref.begin(), ref.end()));
}

constexpr double kTolBf16 = 1e-2;  // bf16 operands, fp32 accumulation (METHOD.md)
constexpr double kTolF32 = 1e-4;   // fp32 arithmetic throughout (METHOD.md: far under 1e-3)

}  // namespace mds::cuda::testing

#endif  // MDS_HAVE_CUDA
