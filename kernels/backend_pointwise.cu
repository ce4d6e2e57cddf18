// Elementwise fp32 kernels of the CUDA Backend: fill, add, axpy, scale,
// activations (the CPU backend's formulas), casts and bias helpers.
#include <cuda_bf16.h>

#include "kernels/backend_ops.h"
#include "kernels/common.cuh"
#include "kernels/column_reduce.cuh"

namespace mds::cuda::bk {
namespace {

template <typename T>
__global__ void fill_k(T* x, T v, int64_t n) { MDS_GRID_STRIDE(i, n) x[i] = v; }
__global__ void add_k(const float* a, const float* b, float* y, int64_t n) { MDS_GRID_STRIDE(i, n) y[i] = a[i] + b[i]; }
__global__ void axpy_k(float al, const float* x, float* y, int64_t n) { MDS_GRID_STRIDE(i, n) y[i] += al * x[i]; }
__global__ void scale_k(float* x, float al, int64_t n) { MDS_GRID_STRIDE(i, n) x[i] *= al; }
__global__ void act_fwd_k(int act, const float* x, float* y, int64_t n) {
  MDS_GRID_STRIDE(i, n) {
    const float v = x[i];
    if (act == 0) y[i] = tanhf(v);
    else if (act == 1) y[i] = v / (1.f + expf(-v));
    else y[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752440f));
  }
}
// add: dx += dy·act'; else dx = dy·act' without reading dx (it may be uninitialised).
__global__ void act_bwd_k(int act, const float* x, const float* y, const float* dy, float* dx, int64_t n, bool add) {
  MDS_GRID_STRIDE(i, n) {
    const float v = x[i];
    float d;
    if (act == 0) d = 1.f - y[i] * y[i];
    else if (act == 1) {
      const float sg = 1.f / (1.f + expf(-v));
      d = sg * (1.f + v * (1.f - sg));
    } else {
      d = 0.5f * (1.f + erff(v * 0.70710678118654752440f)) + v * 0.39894228040143267794f * expf(-0.5f * v * v);
    }
    dx[i] = add ? dx[i] + dy[i] * d : dy[i] * d;
  }
}
__global__ void bias_rows_k(float* y, const float* b, int64_t rows, int64_t cols) {
  MDS_GRID_STRIDE(i, rows * cols) y[i] += b[i % cols];
}
struct RowTerm {
  const float* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float (&acc)[1]) const { acc[0] += x[r * cols + c]; }
};
// y[g, c] = x[g, c] for c < d, 0 for d <= c < dp: rows of d values widened to dp.
__global__ void to_bf16_padded_k(const float* x, bf16* y, int64_t groups, int d, int dp) {
  MDS_GRID_STRIDE(i, groups * dp) {
    const int64_t g = i / dp;
    const int c = int(i % dp);
    y[i] = c < d ? __float2bfloat16(x[g * d + c]) : __float2bfloat16(0.f);
  }
}
__global__ void from_bf16_padded_k(const bf16* x, float* y, int64_t groups, int d, int dp, bool acc) {
  MDS_GRID_STRIDE(i, groups * d) {
    const int64_t g = i / d;
    const int c = int(i % d);
    y[i] = (acc ? y[i] : 0.f) + __bfloat162float(x[g * dp + c]);
  }
}
}  // namespace


void fill_f32(Context& ctx, float* x, float v, int64_t n) { MDS_LAUNCH_GRID_STRIDE(fill_k<float>, n, x, v, n); }
void fill_i32(Context& ctx, int32_t* x, int32_t v, int64_t n) { MDS_LAUNCH_GRID_STRIDE(fill_k<int32_t>, n, x, v, n); }
void fill_u8(Context& ctx, uint8_t* x, uint8_t v, int64_t n) { MDS_LAUNCH_GRID_STRIDE(fill_k<uint8_t>, n, x, v, n); }
void fill_u64(Context& ctx, uint64_t* x, uint64_t v, int64_t n) { MDS_LAUNCH_GRID_STRIDE(fill_k<uint64_t>, n, x, v, n); }
void add(Context& ctx, const float* a, const float* b, float* y, int64_t n) { MDS_LAUNCH_GRID_STRIDE(add_k, n, a, b, y, n); }
void axpy(Context& ctx, float alpha, const float* x, float* y, int64_t n) { MDS_LAUNCH_GRID_STRIDE(axpy_k, n, alpha, x, y, n); }
void scale(Context& ctx, float* x, float alpha, int64_t n) { MDS_LAUNCH_GRID_STRIDE(scale_k, n, x, alpha, n); }
void activation_forward(Context& ctx, int act, const float* x, float* y, int64_t n) { MDS_LAUNCH_GRID_STRIDE(act_fwd_k, n, act, x, y, n); }
void activation_backward(Context& ctx, int act, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                         bool add) {
  MDS_LAUNCH_GRID_STRIDE(act_bwd_k, n, act, x, y, dy, dx, n, add);
}
void f32_to_bf16_padded(Context& ctx, const float* x, bf16* y, int64_t groups, int d, int dp) {
  MDS_LAUNCH_GRID_STRIDE(to_bf16_padded_k, groups * dp, x, y, groups, d, dp);
}
void bf16_padded_to_f32(Context& ctx, const bf16* x, float* y, int64_t groups, int d, int dp, bool accumulate) {
  MDS_LAUNCH_GRID_STRIDE(from_bf16_padded_k, groups * d, x, y, groups, d, dp, accumulate);
}
void add_bias_rows(Context& ctx, float* y, const float* b, int64_t rows, int64_t cols) {
  MDS_LAUNCH_GRID_STRIDE(bias_rows_k, rows * cols, y, b, rows, cols);
}
void add_column_sums(Context& ctx, const float* x, int64_t rows, int64_t cols, float* out) {
  colred::column_reduce<1>(ctx, RowTerm{x, cols}, rows, cols, colred::Outputs<1>{{out}}, "add_column_sums");
}

}  // namespace mds::cuda::bk
