// Grouped GEMM kernels for the MoE experts (see grouped_gemm.h). One WMMA
// kernel, 64×64 output tiles, 4 warps of 32×32, bf16 operands staged in
// shared memory, fp32 accumulation. Forward and data-gradient blocks are
// assigned to (expert, 64-row tile) through the device tile offsets, so the
// grid is sized by an upper bound and surplus blocks exit; weight-gradient
// blocks own one (expert, n-tile, k-tile) and loop over the expert's rows.
#include "kernels/grouped_gemm.h"

#include <mma.h>

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kT = 64;        // output tile
constexpr int kBK = 32;       // reduction step
constexpr int kThreads = 128;
constexpr int kLdNarrow = kBK + 8;  // pitch of 64 × 32 tiles
constexpr int kLdWide = kT + 8;     // pitch of 32 × 64 tiles
constexpr int kLdC = kT + 4;
constexpr int kTileElems = (kT * kLdNarrow > kBK * kLdWide) ? kT * kLdNarrow : kBK * kLdWide;

enum Mode { kForward = 0, kData = 1, kWeight = 2 };

struct GgParams {
  const bf16* a;    // X (forward), dY (data, weight)
  const bf16* b;    // W (forward, data), X (weight)
  const float* bias;
  const bf16* pre;
  bf16* out;        // Y or dX
  bf16* pre_out;    // forward with GELU
  float* dw;
  int N, K, E;
  int gelu;
  int accumulate;  // data gradient: add into out
  const int32_t* offsets;
  const int32_t* tile_offsets;
};

// dst[r][c] = src[(row0 + r)·ld + col0 + c] inside [row_end) × [col_end), else 0.
template <int ROWS, int COLS>
__device__ __forceinline__ void load_tile(bf16* dst, int pitch, const bf16* src, long long ld, int row0, int row_end,
                                          int col0, int col_end) {
  constexpr int V = COLS / 8;
  for (int i = threadIdx.x; i < ROWS * V; i += kThreads) {
    const int r = i / V, c = (i % V) * 8;
    uint4 val = make_uint4(0u, 0u, 0u, 0u);
    if (row0 + r < row_end && col0 + c < col_end)
      val = *reinterpret_cast<const uint4*>(src + (long long)(row0 + r) * ld + col0 + c);
    *reinterpret_cast<uint4*>(dst + r * pitch + c) = val;
  }
}

template <int MODE>
__global__ void __launch_bounds__(kThreads) grouped_gemm_kernel(const __grid_constant__ GgParams p) {
  __shared__ __align__(128) bf16 sA[kTileElems];
  __shared__ __align__(128) bf16 sB[kTileElems];
  __shared__ __align__(128) float sC[kT * kLdC];

  const int warp = threadIdx.x >> 5, wm = warp >> 1, wn = warp & 1;
  int e, m0, m_end, c0;  // expert, first row, row end, first output column
  if (MODE == kWeight) {
    e = blockIdx.z;
    m0 = p.offsets[e];
    m_end = p.offsets[e + 1];
    c0 = blockIdx.y * kT;
  } else {
    const int x = blockIdx.x;
    if (x >= p.tile_offsets[p.E]) return;
    e = 0;
    while (p.tile_offsets[e + 1] <= x) ++e;  // experts with no tiles are skipped
    m0 = p.offsets[e] + (x - p.tile_offsets[e]) * kT;
    m_end = p.offsets[e + 1];
    c0 = blockIdx.y * kT;
  }
  const int n0 = blockIdx.x * kT;  // weight mode: output row tile (over N)
  const long long wsz = (long long)p.N * p.K;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  const int red_end = MODE == kForward ? p.K : (MODE == kData ? p.N : m_end);
  const int red_begin = MODE == kWeight ? m0 : 0;
  for (int k0 = red_begin; k0 < red_end; k0 += kBK) {
    __syncthreads();
    if (MODE == kForward) {
      load_tile<kT, kBK>(sA, kLdNarrow, p.a, p.K, m0, m_end, k0, p.K);
      load_tile<kT, kBK>(sB, kLdNarrow, p.b + e * wsz, p.K, c0, p.N, k0, p.K);
    } else if (MODE == kData) {
      load_tile<kT, kBK>(sA, kLdNarrow, p.a, p.N, m0, m_end, k0, p.N);
      load_tile<kBK, kT>(sB, kLdWide, p.b + e * wsz, p.K, k0, p.N, c0, p.K);
    } else {
      load_tile<kBK, kT>(sA, kLdWide, p.a, p.N, k0, m_end, n0, p.N);
      load_tile<kBK, kT>(sB, kLdWide, p.b, p.K, k0, m_end, c0, p.K);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int ar = wm * 32 + i * 16;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int bc = wn * 32 + j * 16;
          if (MODE == kWeight) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major> fa;
            wmma::load_matrix_sync(fa, sA + kk * 16 * kLdWide + ar, kLdWide);
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
            wmma::load_matrix_sync(fb, sB + kk * 16 * kLdWide + bc, kLdWide);
            wmma::mma_sync(acc[i][j], fa, fb, acc[i][j]);
          } else {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
            wmma::load_matrix_sync(fa, sA + ar * kLdNarrow + kk * 16, kLdNarrow);
            if (MODE == kForward) {
              wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
              wmma::load_matrix_sync(fb, sB + bc * kLdNarrow + kk * 16, kLdNarrow);
              wmma::mma_sync(acc[i][j], fa, fb, acc[i][j]);
            } else {
              wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
              wmma::load_matrix_sync(fb, sB + kk * 16 * kLdWide + bc, kLdWide);
              wmma::mma_sync(acc[i][j], fa, fb, acc[i][j]);
            }
          }
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(sC + (wm * 32 + i * 16) * kLdC + wn * 32 + j * 16, acc[i][j], kLdC,
                              wmma::mem_row_major);
  __syncthreads();

  // Epilogue: 64 rows × 8 vectors of 8 columns.
  for (int idx = threadIdx.x; idx < kT * (kT / 8); idx += kThreads) {
    const int r = idx / (kT / 8), c = (idx % (kT / 8)) * 8;
    const float* src = sC + r * kLdC + c;
    if (MODE == kWeight) {
      const int gr = n0 + r, gc = c0 + c;
      if (gr >= p.N || gc >= p.K) continue;
      float4* dst = reinterpret_cast<float4*>(p.dw + e * wsz + (long long)gr * p.K + gc);
      float4 lo = dst[0], hi = dst[1];
      lo.x += src[0]; lo.y += src[1]; lo.z += src[2]; lo.w += src[3];
      hi.x += src[4]; hi.y += src[5]; hi.z += src[6]; hi.w += src[7];
      dst[0] = lo;
      dst[1] = hi;
    } else {
      const int gr = m0 + r, gc = c0 + c;
      const int ncols = MODE == kForward ? p.N : p.K;
      if (gr >= m_end || gc >= ncols) continue;
      const long long o = (long long)gr * ncols + gc;
      alignas(16) bf16 outv[8];
      if (MODE == kForward) {
        alignas(16) bf16 prev[8];
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          float v = src[q] + (p.bias ? p.bias[(long long)e * p.N + gc + q] : 0.f);
          prev[q] = __float2bfloat16(v);
          outv[q] = __float2bfloat16(p.gelu ? gelu_f(v) : v);
        }
        if (p.gelu) *reinterpret_cast<uint4*>(p.pre_out + o) = *reinterpret_cast<const uint4*>(prev);
      } else {
        alignas(16) bf16 prev[8], old[8];
        if (p.pre) *reinterpret_cast<uint4*>(prev) = *reinterpret_cast<const uint4*>(p.pre + o);
        if (p.accumulate) *reinterpret_cast<uint4*>(old) = *reinterpret_cast<const uint4*>(p.out + o);
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          float v = src[q];
          if (p.pre) v *= gelu_grad_f(__bfloat162float(prev[q]));
          if (p.accumulate) v += __bfloat162float(old[q]);
          outv[q] = __float2bfloat16(v);
        }
      }
      *reinterpret_cast<uint4*>(p.out + o) = *reinterpret_cast<const uint4*>(outv);
    }
  }
}

// dbias[e, n] += Σ over the expert's rows of dY[r, n]; one thread per column, rows in order.
__global__ void grouped_bias_grad_kernel(const bf16* dy, const int32_t* offsets, float* dbias, int N) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x, e = blockIdx.y;
  if (n >= N) return;
  const int r0 = offsets[e], r1 = offsets[e + 1];
  float s = 0.f;
  for (int r = r0; r < r1; ++r) s += __bfloat162float(dy[(long long)r * N + n]);
  dbias[(long long)e * N + n] += s;
}

void check(const ExpertGroups& g, int N, int K, const void* const* ptrs, int nptrs, const char* what) {
  if (g.experts <= 0 || !g.offsets || !g.tile_offsets)
    throw_usage("{}: expert groups not set up ({} experts)", what, g.experts);
  if (N <= 0 || K <= 0 || N % 8 != 0 || K % 8 != 0)
    throw_usage("{}: N = {} and K = {} must be positive multiples of 8", what, N, K);
  if (g.experts > 65535) throw_usage("{}: {} experts exceed the grid limit", what, g.experts);
  for (int i = 0; i < nptrs; ++i)
    if (ptrs[i] && (reinterpret_cast<uintptr_t>(ptrs[i]) & 15u))
      throw_usage("{}: operand {} is not 16-byte aligned", what, i);
}

}  // namespace

void grouped_linear_forward(Context& ctx, const ExpertGroups& g, const bf16* X, const bf16* W, const float* bias,
                            int N, int K, bool gelu, bf16* Y, bf16* pre) {
  const void* ptrs[] = {X, W, Y, pre};
  check(g, N, K, ptrs, 4, "grouped_linear_forward");
  if (!X || !W || !Y || (gelu && !pre)) throw_usage("grouped_linear_forward: null tensor pointer");
  if (g.tile_bound <= 0) return;
  GgParams p{};
  p.a = X;
  p.b = W;
  p.bias = bias;
  p.out = Y;
  p.pre_out = pre;
  p.gelu = gelu ? 1 : 0;
  p.N = N;
  p.K = K;
  p.E = g.experts;
  p.offsets = g.offsets;
  p.tile_offsets = g.tile_offsets;
  grouped_gemm_kernel<kForward><<<dim3(g.tile_bound, ceil_div(N, kT)), kThreads, 0, ctx.stream()>>>(p);
  MDS_CUDA_CHECK_LAUNCH("grouped_gemm_kernel<forward>");
}

void grouped_linear_backward_data(Context& ctx, const ExpertGroups& g, const bf16* dY, const bf16* W, int N, int K,
                                  const bf16* pre, bf16* dX, bool accumulate) {
  const void* ptrs[] = {dY, W, pre, dX};
  check(g, N, K, ptrs, 4, "grouped_linear_backward_data");
  if (!dY || !W || !dX) throw_usage("grouped_linear_backward_data: null tensor pointer");
  if (g.tile_bound <= 0) return;
  GgParams p{};
  p.a = dY;
  p.b = W;
  p.pre = pre;
  p.out = dX;
  p.accumulate = accumulate ? 1 : 0;
  p.N = N;
  p.K = K;
  p.E = g.experts;
  p.offsets = g.offsets;
  p.tile_offsets = g.tile_offsets;
  grouped_gemm_kernel<kData><<<dim3(g.tile_bound, ceil_div(K, kT)), kThreads, 0, ctx.stream()>>>(p);
  MDS_CUDA_CHECK_LAUNCH("grouped_gemm_kernel<data>");
}

void grouped_linear_backward_weight(Context& ctx, const ExpertGroups& g, const bf16* dY, const bf16* X, int N, int K,
                                    float* dW, float* dbias) {
  const void* ptrs[] = {dY, X, dW};
  check(g, N, K, ptrs, 3, "grouped_linear_backward_weight");
  if (!dY || !X || !dW) throw_usage("grouped_linear_backward_weight: null tensor pointer");
  GgParams p{};
  p.a = dY;
  p.b = X;
  p.dw = dW;
  p.N = N;
  p.K = K;
  p.E = g.experts;
  p.offsets = g.offsets;
  p.tile_offsets = g.tile_offsets;
  grouped_gemm_kernel<kWeight><<<dim3(ceil_div(N, kT), ceil_div(K, kT), g.experts), kThreads, 0, ctx.stream()>>>(p);
  MDS_CUDA_CHECK_LAUNCH("grouped_gemm_kernel<weight>");
  if (dbias) {
    grouped_bias_grad_kernel<<<dim3(ceil_div(N, 128), g.experts), 128, 0, ctx.stream()>>>(dY, g.offsets, dbias, N);
    MDS_CUDA_CHECK_LAUNCH("grouped_bias_grad_kernel");
  }
}

}  // namespace mds::cuda

