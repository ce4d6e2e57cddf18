// Row-wise mean squared error kernels (see mse.h): one warp per row.
#include "kernels/mse.h"

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

constexpr int kWarps = 8;

template <typename T>
__global__ void mse_fwd_kernel(const T* a, const T* b, float* loss, int rows, int cols) {
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long o = (long long)row * cols;
  float s = 0.f;
  for (int c = lane; c < cols; c += 32) {
    const float d = to_f(a[o + c]) - to_f(b[o + c]);
    s += d * d;
  }
  s = warp_sum(s);
  if (lane == 0) loss[row] = s / cols;
}

template <typename T>
__global__ void mse_bwd_kernel(const T* a, const T* b, const float* grad, T* da, T* db, int rows, int cols,
                               int acc) {
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long o = (long long)row * cols;
  const float g = grad[row] * 2.f / cols;
  for (int c = lane; c < cols; c += 32) {
    const float d = g * (to_f(a[o + c]) - to_f(b[o + c]));
    da[o + c] = from_f<T>(d + (acc ? to_f(da[o + c]) : 0.f));
    if (db) db[o + c] = from_f<T>(-d + (acc ? to_f(db[o + c]) : 0.f));
  }
}

template <typename T>
void fwd(Context& ctx, const T* a, const T* b, float* loss, int rows, int cols) {
  if (rows < 0 || cols <= 0) throw_usage("mse_forward: invalid shape {} × {}", rows, cols);
  if (rows == 0) return;
  mse_fwd_kernel<T><<<ceil_div(rows, kWarps), kWarps * 32, 0, ctx.stream()>>>(a, b, loss, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("mse_fwd_kernel");
}

template <typename T>
void bwd(Context& ctx, const T* a, const T* b, const float* grad, T* da, T* db, int rows, int cols, bool acc) {
  if (rows < 0 || cols <= 0) throw_usage("mse_backward: invalid shape {} × {}", rows, cols);
  if (rows == 0) return;
  mse_bwd_kernel<T><<<ceil_div(rows, kWarps), kWarps * 32, 0, ctx.stream()>>>(a, b, grad, da, db, rows, cols,
                                                                                  acc ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("mse_bwd_kernel");
}

}  // namespace

void mse_forward(Context& ctx, const bf16* a, const bf16* b, float* loss, int rows, int cols) {
  fwd(ctx, a, b, loss, rows, cols);
}
void mse_forward(Context& ctx, const float* a, const float* b, float* loss, int rows, int cols) {
  fwd(ctx, a, b, loss, rows, cols);
}
void mse_backward(Context& ctx, const bf16* a, const bf16* b, const float* grad, bf16* da, bf16* db, int rows,
                  int cols, bool accumulate) {
  bwd(ctx, a, b, grad, da, db, rows, cols, accumulate);
}
void mse_backward(Context& ctx, const float* a, const float* b, const float* grad, float* da, float* db, int rows,
                  int cols, bool accumulate) {
  bwd(ctx, a, b, grad, da, db, rows, cols, accumulate);
}

}  // namespace mds::cuda
