// Row softmax kernels (see softmax.h): one warp per row, three passes over the
// row (max, sum of exponentials, write), any width.
#include "kernels/softmax.h"

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

constexpr int kWarps = 8;

template <typename T>
__global__ void softmax_fwd_kernel(const T* x, T* y, int rows, int cols) {
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const T* xr = x + (long long)row * cols;
  T* yr = y + (long long)row * cols;
  float m = -INFINITY;
  for (int c = lane; c < cols; c += 32) m = fmaxf(m, to_f(xr[c]));
  m = warp_max(m);
  float s = 0.f;
  for (int c = lane; c < cols; c += 32) s += __expf(to_f(xr[c]) - m);
  const float inv = 1.f / warp_sum(s);
  for (int c = lane; c < cols; c += 32) yr[c] = from_f<T>(__expf(to_f(xr[c]) - m) * inv);
}

template <typename T>
__global__ void softmax_bwd_kernel(const T* y, const T* dy, T* dx, int rows, int cols, int acc) {
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long o = (long long)row * cols;
  float s = 0.f;
  for (int c = lane; c < cols; c += 32) s += to_f(y[o + c]) * to_f(dy[o + c]);
  s = warp_sum(s);
  for (int c = lane; c < cols; c += 32)
    dx[o + c] = from_f<T>(to_f(y[o + c]) * (to_f(dy[o + c]) - s) + (acc ? to_f(dx[o + c]) : 0.f));
}

template <typename T>
void fwd(Context& ctx, const T* x, T* y, int rows, int cols) {
  if (rows < 0 || cols <= 0) throw_usage("softmax_forward: invalid shape {} × {}", rows, cols);
  if (rows == 0) return;
  softmax_fwd_kernel<T><<<ceil_div(rows, kWarps), kWarps * 32, 0, ctx.stream()>>>(x, y, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("softmax_fwd_kernel");
}

template <typename T>
void bwd(Context& ctx, const T* y, const T* dy, T* dx, int rows, int cols, bool acc) {
  if (rows < 0 || cols <= 0) throw_usage("softmax_backward: invalid shape {} × {}", rows, cols);
  if (rows == 0) return;
  softmax_bwd_kernel<T><<<ceil_div(rows, kWarps), kWarps * 32, 0, ctx.stream()>>>(y, dy, dx, rows, cols, acc ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("softmax_bwd_kernel");
}

}  // namespace

void softmax_forward(Context& ctx, const float* x, float* y, int rows, int cols) { fwd(ctx, x, y, rows, cols); }
void softmax_forward(Context& ctx, const bf16* x, bf16* y, int rows, int cols) { fwd(ctx, x, y, rows, cols); }
void softmax_backward(Context& ctx, const float* y, const float* dy, float* dx, int rows, int cols,
                      bool accumulate) {
  bwd(ctx, y, dy, dx, rows, cols, accumulate);
}
void softmax_backward(Context& ctx, const bf16* y, const bf16* dy, bf16* dx, int rows, int cols, bool accumulate) {
  bwd(ctx, y, dy, dx, rows, cols, accumulate);
}

}  // namespace mds::cuda
