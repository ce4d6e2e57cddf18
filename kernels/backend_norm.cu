// Row-wise fp32 kernels of the CUDA Backend: layer norm, softmax and the
// per-row squared difference (one warp per row, fp32 sums).
#include "kernels/backend_ops.h"
#include "kernels/common.cuh"
#include "kernels/column_reduce.cuh"

namespace mds::cuda::bk {
namespace {
constexpr int kWarps = 8;
unsigned row_grid(int64_t rows) { return static_cast<unsigned>((rows + kWarps - 1) / kWarps); }
#define ROW_OF_WARP                                                \
  const int64_t r = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32; \
  const int lane = threadIdx.x % 32;                               \
  if (r >= rows) return;

__global__ void ln_fwd_k(const float* x, const float* g, const float* b, float eps, float* y, float* mean, float* rstd,
                         int64_t rows, int64_t cols) {
  ROW_OF_WARP
  const float* xr = x + r * cols;
  float s = 0.f;
  for (int64_t c = lane; c < cols; c += 32) s += xr[c];
  const float mu = warp_sum(s) / float(cols);
  float v = 0.f;
  for (int64_t c = lane; c < cols; c += 32) v += (xr[c] - mu) * (xr[c] - mu);
  const float rs = rsqrtf(warp_sum(v) / float(cols) + eps);
  if (lane == 0) mean[r] = mu, rstd[r] = rs;
  for (int64_t c = lane; c < cols; c += 32) y[r * cols + c] = (xr[c] - mu) * rs * g[c] + b[c];
}
__global__ void ln_bwd_dx_k(const float* x, const float* g, const float* mean, const float* rstd, const float* dy,
                            float* dx, int64_t rows, int64_t cols) {
  ROW_OF_WARP
  const float *xr = x + r * cols, *dyr = dy + r * cols;
  const float mu = mean[r], rs = rstd[r];
  float sg = 0.f, sgx = 0.f;
  for (int64_t c = lane; c < cols; c += 32) {
    const float gc = dyr[c] * g[c];
    sg += gc;
    sgx += gc * (xr[c] - mu) * rs;
  }
  sg = warp_sum(sg) / float(cols);
  sgx = warp_sum(sgx) / float(cols);
  for (int64_t c = lane; c < cols; c += 32) dx[r * cols + c] += rs * (dyr[c] * g[c] - sg - (xr[c] - mu) * rs * sgx);
}
// Per row r: (dy·x̂, dy) for the gain and shift gradients.
struct LnParamTerm {
  const float *x, *mean, *rstd, *dy;
  __device__ void operator()(int64_t r, int64_t c, float (&acc)[2]) const {
    const float d = dy[r * cols + c];
    acc[0] += d * (x[r * cols + c] - mean[r]) * rstd[r];
    acc[1] += d;
  }
  int64_t cols;
};
__global__ void sm_fwd_k(const float* x, float* y, int64_t rows, int64_t cols) {
  ROW_OF_WARP
  const float* xr = x + r * cols;
  float mx = -INFINITY;
  for (int64_t c = lane; c < cols; c += 32) mx = fmaxf(mx, xr[c]);
  mx = warp_max(mx);
  float s = 0.f;
  for (int64_t c = lane; c < cols; c += 32) s += expf(xr[c] - mx);
  const float inv = 1.f / warp_sum(s);
  for (int64_t c = lane; c < cols; c += 32) y[r * cols + c] = expf(xr[c] - mx) * inv;
}
__global__ void sm_bwd_k(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  ROW_OF_WARP
  const float *yr = y + r * cols, *dyr = dy + r * cols;
  float dot = 0.f;
  for (int64_t c = lane; c < cols; c += 32) dot += yr[c] * dyr[c];
  dot = warp_sum(dot);
  for (int64_t c = lane; c < cols; c += 32) dx[r * cols + c] += yr[c] * (dyr[c] - dot);
}
__global__ void sq_fwd_k(const float* a, const float* b, float* out, int64_t rows, int64_t cols) {
  ROW_OF_WARP
  float s = 0.f;
  for (int64_t c = lane; c < cols; c += 32) {
    const float d = a[r * cols + c] - (b ? b[r * cols + c] : 0.f);
    s += d * d;
  }
  s = warp_sum(s);
  if (lane == 0) out[r] = s / float(cols);
}
__global__ void sq_bwd_k(const float* a, const float* b, const float* drow, float* da, float* db, int64_t rows,
                         int64_t cols) {
  ROW_OF_WARP
  if (drow[r] == 0.f) return;
  const float f = 2.f * drow[r] / float(cols);
  for (int64_t c = lane; c < cols; c += 32) {
    const float g = f * (a[r * cols + c] - (b ? b[r * cols + c] : 0.f));
    if (da) da[r * cols + c] += g;
    if (db) db[r * cols + c] -= g;
  }
}
}  // namespace

void layer_norm_forward(Context& ctx, const float* x, const float* g, const float* b, float eps, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  ln_fwd_k<<<row_grid(rows), 32 * kWarps, 0, ctx.stream()>>>(x, g, b, eps, y, mean, rstd, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("ln_fwd");
}
void layer_norm_backward(Context& ctx, const float* x, const float* g, const float* mean, const float* rstd,
                         const float* dy, float* dx, float* dg, float* db, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  if (dx) ln_bwd_dx_k<<<row_grid(rows), 32 * kWarps, 0, ctx.stream()>>>(x, g, mean, rstd, dy, dx, rows, cols);
  if (dg || db)
    colred::column_reduce<2>(ctx, LnParamTerm{x, mean, rstd, dy, cols}, rows, cols, colred::Outputs<2>{{dg, db}},
                             "ln_bwd_params");
  MDS_CUDA_CHECK_LAUNCH("ln_bwd");
}
void softmax_forward(Context& ctx, const float* x, float* y, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  sm_fwd_k<<<row_grid(rows), 32 * kWarps, 0, ctx.stream()>>>(x, y, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("softmax_fwd");
}
void softmax_backward(Context& ctx, const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  sm_bwd_k<<<row_grid(rows), 32 * kWarps, 0, ctx.stream()>>>(y, dy, dx, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("softmax_bwd");
}
void row_sq_diff_forward(Context& ctx, const float* a, const float* b, float* out, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  sq_fwd_k<<<row_grid(rows), 32 * kWarps, 0, ctx.stream()>>>(a, b, out, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("sq_fwd");
}
void row_sq_diff_backward(Context& ctx, const float* a, const float* b, const float* drow, float* da, float* db,
                          int64_t rows, int64_t cols) {
  if (rows == 0) return;
  sq_bwd_k<<<row_grid(rows), 32 * kWarps, 0, ctx.stream()>>>(a, b, drow, da, db, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("sq_bwd");
}

}  // namespace mds::cuda::bk
