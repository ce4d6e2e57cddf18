// AdamW, EMA and sum-of-squares kernels (see optimizer.h).
#include "kernels/optimizer.h"

#include <cmath>

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kMaxBlocks = 1024;

unsigned grid_for(size_t n) {
  size_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks > 65535u * 8u) blocks = 65535u * 8u;
  return unsigned(blocks > 0 ? blocks : 1);
}

__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, bf16* __restrict__ pb, size_t n, float lr, float b1, float b2,
                             float eps, float decay_factor, float step_size, float inv_sqrt_bc2) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    const float mi = b1 * m[i] + (1.f - b1) * gi;
    const float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float pi = p[i] * decay_factor - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    p[i] = pi;
    if (pb) pb[i] = __float2bfloat16(pi);
  }
}

__global__ void ema_kernel(float decay, const float* __restrict__ p, float* __restrict__ e, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    e[i] = decay * e[i] + (1.f - decay) * p[i];
}

// Stage 1: each block sums a fixed strided subset into partial[block].
__global__ void sumsq_partial_kernel(const float* __restrict__ x, size_t n, double* __restrict__ partial) {
  __shared__ double s[kBlock];
  double acc = 0.0;
  for (size_t i = blockIdx.x * size_t(kBlock) + threadIdx.x; i < n; i += size_t(gridDim.x) * kBlock) {
    const double xi = x[i];
    acc += xi * xi;
  }
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kBlock / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

__global__ void sumsq_finish_kernel(const double* __restrict__ partial, int blocks, double* __restrict__ out) {
  __shared__ double s[kBlock];
  double acc = 0.0;
  for (int i = threadIdx.x; i < blocks; i += kBlock) acc += partial[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kBlock / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = s[0];
}

}  // namespace

void adamw_step(Context& ctx, const AdamWHyper& hp, float* param, const float* grad, float* m, float* v,
                bf16* param_bf16, size_t n) {
  if (hp.step < 1) throw_usage("adamw_step: step count {} must be >= 1", hp.step);
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(double(hp.beta1), double(hp.step));
  const double bc2 = 1.0 - std::pow(double(hp.beta2), double(hp.step));
  const float step_size = float(hp.lr / bc1);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  const float decay_factor = float(1.0 - double(hp.lr) * hp.weight_decay);
  adamw_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(param, grad, m, v, param_bf16, n, hp.lr, hp.beta1, hp.beta2,
                                                         hp.eps, decay_factor, step_size, inv_sqrt_bc2);
  MDS_CUDA_CHECK_LAUNCH("adamw_kernel");
}

void ema_update(Context& ctx, float decay, const float* param, float* ema, size_t n) {
  if (n == 0) return;
  ema_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(decay, param, ema, n);
  MDS_CUDA_CHECK_LAUNCH("ema_kernel");
}

void sum_squares(Context& ctx, const float* x, size_t n, double* out_device) {
  size_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks > size_t(kMaxBlocks)) blocks = kMaxBlocks;
  if (blocks == 0) blocks = 1;
  DeviceBuffer partial = ctx.alloc_n<double>(blocks);
  sumsq_partial_kernel<<<unsigned(blocks), kBlock, 0, ctx.stream()>>>(x, n, partial.as<double>());
  MDS_CUDA_CHECK_LAUNCH("sumsq_partial_kernel");
  sumsq_finish_kernel<<<1, kBlock, 0, ctx.stream()>>>(partial.as<double>(), int(blocks), out_device);
  MDS_CUDA_CHECK_LAUNCH("sumsq_finish_kernel");
}

}  // namespace mds::cuda
