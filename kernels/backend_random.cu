// Counter-based noise and dropout on the GPU: the same pure functions of
// (row key, salt, column) as the CPU backend (backend/rng.h, compiled for the
// device), so both backends draw identical numbers (normals up to the last
// float rounding of sqrt/log/cos).
#include "backend/rng.h"
#include <algorithm>

#include "kernels/backend_ops.h"
#include "kernels/common.cuh"

namespace mds::cuda::bk {
namespace {

__global__ void gauss_k(const uint64_t* keys, uint64_t salt, float* out, int64_t R, int64_t C) {
  MDS_GRID_STRIDE(i, R * C) out[i] = float(rng::normal(keys[i / C], salt, uint64_t(i % C)));
}
__global__ void drop_fwd_k(const float* x, double p, const uint64_t* keys, uint64_t salt, float* y, uint8_t* mask,
                           float keep_scale, int64_t R, int64_t C) {
  MDS_GRID_STRIDE(i, R * C) {
    const bool keep = rng::uniform(keys[i / C], salt, uint64_t(i % C)) >= p;
    mask[i] = keep;
    y[i] = keep ? x[i] * keep_scale : 0.f;
  }
}
__global__ void drop_bwd_k(const float* dy, const uint8_t* mask, float s, float* dx, int64_t n) {
  MDS_GRID_STRIDE(i, n) if (mask[i]) dx[i] += dy[i] * s;
}
}  // namespace

void gaussian_fill(Context& ctx, const uint64_t* keys, uint64_t salt, float* out, int64_t R, int64_t C) {
  if (R * C == 0) return;
  MDS_LAUNCH_GRID_STRIDE(gauss_k, R * C, keys, salt, out, R, C);
}
void dropout_forward(Context& ctx, const float* x, double p, const uint64_t* keys, uint64_t salt, float* y,
                     uint8_t* mask, int64_t R, int64_t C) {
  if (R * C == 0) return;
  MDS_LAUNCH_GRID_STRIDE(drop_fwd_k, R * C, x, p, keys, salt, y, mask, float(1.0 / (1.0 - p)), R, C);
}
void dropout_backward(Context& ctx, const float* dy, const uint8_t* mask, float scale, float* dx, int64_t n) {
  if (n == 0) return;
  MDS_LAUNCH_GRID_STRIDE(drop_bwd_k, n, dy, mask, scale, dx, n);
}

}  // namespace mds::cuda::bk
