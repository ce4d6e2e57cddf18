// Counter-based noise and dropout on the GPU: the same pure functions of
// (row key, salt, column) as the CPU backend (backend/rng.h, compiled for the
// device), so both backends draw identical numbers (normals up to the last
// float rounding of sqrt/log/cos).
#include "backend/rng.h"
#include <algorithm>

#include "kernels/backend_ops.h"

namespace mds::cuda::bk {
namespace {
constexpr int kThreads = 256;
unsigned grid_for(int64_t n) { return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 1 << 20))); }
#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void gauss_k(const uint64_t* keys, uint64_t salt, float* out, int64_t R, int64_t C) {
  GRID_STRIDE(i, R * C) out[i] = float(rng::normal(keys[i / C], salt, uint64_t(i % C)));
}
__global__ void drop_fwd_k(const float* x, double p, const uint64_t* keys, uint64_t salt, float* y, uint8_t* mask,
                           float keep_scale, int64_t R, int64_t C) {
  GRID_STRIDE(i, R * C) {
    const bool keep = rng::uniform(keys[i / C], salt, uint64_t(i % C)) >= p;
    mask[i] = keep;
    y[i] = keep ? x[i] * keep_scale : 0.f;
  }
}
__global__ void drop_bwd_k(const float* dy, const uint8_t* mask, float s, float* dx, int64_t n) {
  GRID_STRIDE(i, n) if (mask[i]) dx[i] += dy[i] * s;
}
}  // namespace

void gaussian_fill(Context& ctx, const uint64_t* keys, uint64_t salt, float* out, int64_t R, int64_t C) {
  if (R * C == 0) return;
  gauss_k<<<grid_for(R * C), kThreads, 0, ctx.stream()>>>(keys, salt, out, R, C);
  MDS_CUDA_CHECK_LAUNCH("gaussian_fill");
}
void dropout_forward(Context& ctx, const float* x, double p, const uint64_t* keys, uint64_t salt, float* y,
                     uint8_t* mask, int64_t R, int64_t C) {
  if (R * C == 0) return;
  drop_fwd_k<<<grid_for(R * C), kThreads, 0, ctx.stream()>>>(x, p, keys, salt, y, mask, float(1.0 / (1.0 - p)), R, C);
  MDS_CUDA_CHECK_LAUNCH("dropout_forward");
}
void dropout_backward(Context& ctx, const float* dy, const uint8_t* mask, float scale, float* dx, int64_t n) {
  if (n == 0) return;
  drop_bwd_k<<<grid_for(n), kThreads, 0, ctx.stream()>>>(dy, mask, scale, dx, n);
  MDS_CUDA_CHECK_LAUNCH("dropout_backward");
}

}  // namespace mds::cuda::bk
