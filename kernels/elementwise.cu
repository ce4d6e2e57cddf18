// Element-wise kernels (see elementwise.h): grid-stride loops, fp32 math.
#include "kernels/elementwise.h"

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

constexpr int kBlock = 256;

unsigned grid_for(size_t n) {
  size_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks > 65535u * 8u) blocks = 65535u * 8u;  // grid-stride covers the rest
  return unsigned(blocks > 0 ? blocks : 1);
}

__device__ __forceinline__ float act_f(Activation a, float x) {
  switch (a) {
    case Activation::gelu: return gelu_f(x);
    case Activation::silu: return x / (1.f + __expf(-x));
    default: return tanhf(x);
  }
}

__device__ __forceinline__ float act_grad(Activation a, float x) {
  switch (a) {
    case Activation::gelu: return gelu_grad_f(x);
    case Activation::silu: {
      const float s = 1.f / (1.f + __expf(-x));
      return s * (1.f + x * (1.f - s));
    }
    default: {
      const float t = tanhf(x);
      return 1.f - t * t;
    }
  }
}

__global__ void act_fwd_kernel(Activation a, const bf16* x, bf16* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(act_f(a, __bfloat162float(x[i])));
}

__global__ void act_bwd_kernel(Activation a, const bf16* x, const bf16* dy, bf16* dx, size_t n, int acc) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dx[i] = __float2bfloat16(__bfloat162float(dy[i]) * act_grad(a, __bfloat162float(x[i])) +
                             (acc ? __bfloat162float(dx[i]) : 0.f));
}

__global__ void bias_add_kernel(const bf16* x, const float* bias, bf16* y, size_t n, int cols) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(__bfloat162float(x[i]) + bias[i % cols]);
}

// Stage 1: partial[chunk][c] = Σ over the chunk's rows; block = 32 columns × 8 row lanes.
constexpr int kColRows = 256;  // rows per chunk
__global__ void bias_partial_kernel(const bf16* dy, float* partial, int rows, int cols) {
  __shared__ float s[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  const int r0 = blockIdx.y * kColRows;
  const int r1 = min(rows, r0 + kColRows);
  float acc = 0.f;
  if (c < cols)
    for (int r = r0 + threadIdx.y; r < r1; r += 8) acc += __bfloat162float(dy[(long long)r * cols + c]);
  s[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
    for (int k = 0; k < 8; ++k) t += s[k][threadIdx.x];
    partial[(long long)blockIdx.y * cols + c] = t;
  }
}

// Stage 2: out[c] += Σ_chunk partial[chunk][c] in chunk order.
__global__ void bias_finish_kernel(const float* partial, float* out, int chunks, int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float t = 0.f;
  for (int k = 0; k < chunks; ++k) t += partial[(long long)k * cols + c];
  out[c] += t;
}

__global__ void cast_f2b_kernel(const float* x, bf16* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(x[i]);
}
// Four values per thread with 16-byte loads and 8-byte stores (x 16-byte and
// y 8-byte aligned, n a multiple of 4): the cast feeds every bf16 product, so
// it should run at the memory's speed.
__global__ void cast_f2b_vec4_kernel(const float4* x, uint2* y, size_t n4) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n4; i += size_t(gridDim.x) * blockDim.x) {
    const float4 v = x[i];
    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    y[i] = make_uint2(*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi));
  }
}
__global__ void cast_b2f_kernel(const bf16* x, float* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] = __bfloat162float(x[i]);
}
__global__ void add_kernel(const bf16* a, const bf16* b, bf16* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(__bfloat162float(a[i]) + __bfloat162float(b[i]));
}
__global__ void axpy_kernel(float alpha, const float* x, float* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] += alpha * x[i];
}
__global__ void scale_kernel(float* x, float alpha, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    x[i] *= alpha;
}
template <typename T>
__global__ void fill_kernel(T* x, float v, size_t n) {
  const T tv = from_f<T>(v);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    x[i] = tv;
}

}  // namespace

void activation_forward(Context& ctx, Activation act, const bf16* x, bf16* y, size_t n) {
  if (n == 0) return;
  act_fwd_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(act, x, y, n);
  MDS_CUDA_CHECK_LAUNCH("act_fwd_kernel");
}

void activation_backward(Context& ctx, Activation act, const bf16* x, const bf16* dy, bf16* dx, size_t n,
                         bool accumulate) {
  if (n == 0) return;
  act_bwd_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(act, x, dy, dx, n, accumulate ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("act_bwd_kernel");
}

void bias_add(Context& ctx, const bf16* x, const float* bias, bf16* y, int rows, int cols) {
  if (rows < 0 || cols <= 0) throw_usage("bias_add: invalid shape {} × {}", rows, cols);
  const size_t n = size_t(rows) * cols;
  if (n == 0) return;
  bias_add_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(x, bias, y, n, cols);
  MDS_CUDA_CHECK_LAUNCH("bias_add_kernel");
}

void bias_grad(Context& ctx, const bf16* dy, float* dbias, int rows, int cols) {
  if (rows < 0 || cols <= 0) throw_usage("bias_grad: invalid shape {} × {}", rows, cols);
  if (rows == 0) return;
  const int chunks = ceil_div(rows, kColRows);
  DeviceBuffer partial = ctx.alloc_n<float>(size_t(chunks) * cols);
  bias_partial_kernel<<<dim3(ceil_div(cols, 32), chunks), dim3(32, 8), 0, ctx.stream()>>>(dy, partial.as<float>(),
                                                                                          rows, cols);
  MDS_CUDA_CHECK_LAUNCH("bias_partial_kernel");
  bias_finish_kernel<<<ceil_div(cols, kBlock), kBlock, 0, ctx.stream()>>>(partial.as<float>(), dbias, chunks, cols);
  MDS_CUDA_CHECK_LAUNCH("bias_finish_kernel");
}

void cast_f32_to_bf16(Context& ctx, const float* x, bf16* y, size_t n) {
  if (n == 0) return;
  if (n % 4 == 0 && (reinterpret_cast<uintptr_t>(x) & 15u) == 0 && (reinterpret_cast<uintptr_t>(y) & 7u) == 0) {
    cast_f2b_vec4_kernel<<<grid_for(n / 4), kBlock, 0, ctx.stream()>>>(reinterpret_cast<const float4*>(x),
                                                                        reinterpret_cast<uint2*>(y), n / 4);
    MDS_CUDA_CHECK_LAUNCH("cast_f2b_vec4_kernel");
    return;
  }
  cast_f2b_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(x, y, n);
  MDS_CUDA_CHECK_LAUNCH("cast_f2b_kernel");
}

void cast_bf16_to_f32(Context& ctx, const bf16* x, float* y, size_t n) {
  if (n == 0) return;
  cast_b2f_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(x, y, n);
  MDS_CUDA_CHECK_LAUNCH("cast_b2f_kernel");
}

void add(Context& ctx, const bf16* a, const bf16* b, bf16* y, size_t n) {
  if (n == 0) return;
  add_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(a, b, y, n);
  MDS_CUDA_CHECK_LAUNCH("add_kernel");
}

void axpy(Context& ctx, float alpha, const float* x, float* y, size_t n) {
  if (n == 0) return;
  axpy_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(alpha, x, y, n);
  MDS_CUDA_CHECK_LAUNCH("axpy_kernel");
}

void scale(Context& ctx, float* x, float alpha, size_t n) {
  if (n == 0) return;
  scale_kernel<<<grid_for(n), kBlock, 0, ctx.stream()>>>(x, alpha, n);
  MDS_CUDA_CHECK_LAUNCH("scale_kernel");
}

void fill(Context& ctx, float* x, float value, size_t n) {
  if (n == 0) return;
  fill_kernel<float><<<grid_for(n), kBlock, 0, ctx.stream()>>>(x, value, n);
  MDS_CUDA_CHECK_LAUNCH("fill_kernel");
}

void fill(Context& ctx, bf16* x, float value, size_t n) {
  if (n == 0) return;
  fill_kernel<bf16><<<grid_for(n), kBlock, 0, ctx.stream()>>>(x, value, n);
  MDS_CUDA_CHECK_LAUNCH("fill_kernel");
}

}  // namespace mds::cuda
