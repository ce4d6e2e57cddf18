// Layer norm kernels (see layernorm.h). One warp per row; the row (a few KB)
// is re-read from L1/L2 between passes instead of being held in registers so
// any width works. Parameter gradients use per-chunk partial sums reduced in a
// fixed order, so results do not depend on scheduling.
#include "kernels/layernorm.h"

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

constexpr int kWarps = 8;       // rows per block in the row kernels
constexpr int kChunkRows = 256;  // rows per partial sum in the parameter gradients

__global__ void ln_fwd_kernel(const bf16* __restrict__ x, const float* __restrict__ gamma,
                              const float* __restrict__ beta, bf16* __restrict__ y, float* __restrict__ mean,
                              float* __restrict__ rstd, int rows, int cols, float eps) {
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const bf16* xr = x + (long long)row * cols;
  float s = 0.f;
  for (int c = lane; c < cols; c += 32) s += __bfloat162float(xr[c]);
  const float mu = warp_sum(s) / cols;
  float v = 0.f;
  for (int c = lane; c < cols; c += 32) {
    const float d = __bfloat162float(xr[c]) - mu;
    v += d * d;
  }
  const float rs = rsqrtf(warp_sum(v) / cols + eps);
  bf16* yr = y + (long long)row * cols;
  for (int c = lane; c < cols; c += 32)
    yr[c] = __float2bfloat16((__bfloat162float(xr[c]) - mu) * rs * gamma[c] + beta[c]);
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// dx = rstd · (g - mean(g) - x̂ · mean(g · x̂)), g = dy · gamma.
__global__ void ln_bwd_dx_kernel(const bf16* __restrict__ x, const float* __restrict__ gamma,
                                 const float* __restrict__ mean, const float* __restrict__ rstd,
                                 const bf16* __restrict__ dy, bf16* __restrict__ dx, int rows, int cols,
                                 int acc) {
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const bf16* xr = x + (long long)row * cols;
  const bf16* dyr = dy + (long long)row * cols;
  const float mu = mean[row], rs = rstd[row];
  float sg = 0.f, sgx = 0.f;
  for (int c = lane; c < cols; c += 32) {
    const float g = __bfloat162float(dyr[c]) * gamma[c];
    const float xh = (__bfloat162float(xr[c]) - mu) * rs;
    sg += g;
    sgx += g * xh;
  }
  const float mg = warp_sum(sg) / cols, mgx = warp_sum(sgx) / cols;
  bf16* dxr = dx + (long long)row * cols;
  for (int c = lane; c < cols; c += 32) {
    const float g = __bfloat162float(dyr[c]) * gamma[c];
    const float xh = (__bfloat162float(xr[c]) - mu) * rs;
    dxr[c] = __float2bfloat16(rs * (g - mg - xh * mgx) + (acc ? __bfloat162float(dxr[c]) : 0.f));
  }
}

// partial[chunk][c] = (Σ dy·x̂, Σ dy) over the chunk's rows; block = 32 columns × 8 row lanes.
__global__ void ln_bwd_param_partial_kernel(const bf16* __restrict__ x, const float* __restrict__ mean,
                                            const float* __restrict__ rstd, const bf16* __restrict__ dy,
                                            float* __restrict__ pg, float* __restrict__ pb, int rows, int cols) {
  __shared__ float sg[8][33], sb[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  const int r0 = blockIdx.y * kChunkRows, r1 = min(rows, r0 + kChunkRows);
  float ag = 0.f, ab = 0.f;
  if (c < cols)
    for (int r = r0 + threadIdx.y; r < r1; r += 8) {
      const float d = __bfloat162float(dy[(long long)r * cols + c]);
      const float xh = (__bfloat162float(x[(long long)r * cols + c]) - mean[r]) * rstd[r];
      ag += d * xh;
      ab += d;
    }
  sg[threadIdx.y][threadIdx.x] = ag;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float tg = 0.f, tb = 0.f;
    for (int k = 0; k < 8; ++k) {
      tg += sg[k][threadIdx.x];
      tb += sb[k][threadIdx.x];
    }
    pg[(long long)blockIdx.y * cols + c] = tg;
    pb[(long long)blockIdx.y * cols + c] = tb;
  }
}

__global__ void ln_bwd_param_finish_kernel(const float* __restrict__ pg, const float* __restrict__ pb,
                                           float* __restrict__ dgamma, float* __restrict__ dbeta, int chunks,
                                           int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float tg = 0.f, tb = 0.f;
  for (int k = 0; k < chunks; ++k) {
    tg += pg[(long long)k * cols + c];
    tb += pb[(long long)k * cols + c];
  }
  dgamma[c] += tg;
  dbeta[c] += tb;
}

}  // namespace

void layernorm_forward(Context& ctx, const bf16* x, const float* gamma, const float* beta, bf16* y, float* mean,
                       float* rstd, int rows, int cols, float eps) {
  if (rows < 0 || cols <= 0) throw_usage("layernorm_forward: invalid shape {} × {}", rows, cols);
  if (rows == 0) return;
  ln_fwd_kernel<<<ceil_div(rows, kWarps), kWarps * 32, 0, ctx.stream()>>>(x, gamma, beta, y, mean, rstd, rows, cols,
                                                                         eps);
  MDS_CUDA_CHECK_LAUNCH("ln_fwd_kernel");
}

void layernorm_backward(Context& ctx, const bf16* x, const float* gamma, const float* mean, const float* rstd,
                        const bf16* dy, bf16* dx, float* dgamma, float* dbeta, int rows, int cols,
                        bool accumulate) {
  if (rows < 0 || cols <= 0) throw_usage("layernorm_backward: invalid shape {} × {}", rows, cols);
  if (rows == 0) return;
  ln_bwd_dx_kernel<<<ceil_div(rows, kWarps), kWarps * 32, 0, ctx.stream()>>>(x, gamma, mean, rstd, dy, dx, rows,
                                                                            cols, accumulate ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("ln_bwd_dx_kernel");
  const int chunks = ceil_div(rows, kChunkRows);
  DeviceBuffer partial = ctx.alloc_n<float>(size_t(2) * chunks * cols);
  float* pg = partial.as<float>();
  float* pb = pg + size_t(chunks) * cols;
  ln_bwd_param_partial_kernel<<<dim3(ceil_div(cols, 32), chunks), dim3(32, 8), 0, ctx.stream()>>>(x, mean, rstd, dy,
                                                                                                  pg, pb, rows, cols);
  MDS_CUDA_CHECK_LAUNCH("ln_bwd_param_partial_kernel");
  ln_bwd_param_finish_kernel<<<ceil_div(cols, 256), 256, 0, ctx.stream()>>>(pg, pb, dgamma, dbeta, chunks, cols);
  MDS_CUDA_CHECK_LAUNCH("ln_bwd_param_finish_kernel");
}

}  // namespace mds::cuda
