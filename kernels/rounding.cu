// Rounding to token ids (see rounding.h). Same tiling as the rounding
// cross-entropy forward: a block owns 64 tokens and a split of the vocabulary,
// lane pairs keep each token's best (value, index), a combine kernel merges
// the splits in vocabulary order so ties keep the lower index.
#include "kernels/rounding.h"

#include <algorithm>

#include "kernels/tile.cuh"

namespace mds::cuda {

namespace {

using namespace tile;

struct RoundParams {
  const bf16* h;
  long long ld_h;
  const bf16* emb;
  const float* cvec;  // [V] additive term
  int T, V, dim;
  int nsplit, tiles_per_split;
  float* part_val;    // [nsplit, T]
  int32_t* part_idx;  // [nsplit, T]
};

// c_v = bias[v] (or 0), or −½‖E_v‖² over the bf16 row; one warp per row.
__global__ void rounding_cvec_kernel(const bf16* emb, const float* bias, int V, int dim, int nearest, float* c) {
  const int v = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (v >= V) return;
  if (!nearest) {
    if (lane == 0) c[v] = bias ? bias[v] : 0.f;
    return;
  }
  float s = 0.f;
  for (int d = lane; d < dim; d += 32) {
    const float e = __bfloat162float(emb[(long long)v * dim + d]);
    s += e * e;
  }
  s = warp_sum(s);
  if (lane == 0) c[v] = -0.5f * s;
}

template <int D>
struct RoundSmem {
  using P = Pitch<D>;
  static constexpr size_t kH = 0, kE = P::kTileH, kS = 2 * P::kTileH, kIdx = kS + P::kTileS;
  static constexpr size_t kBytes = kIdx + 2 * 64 * 4;
};

__device__ __forceinline__ bool beats(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

template <int D>
__global__ void __launch_bounds__(kThreads) rounding_kernel(const __grid_constant__ RoundParams p) {
  using P = Pitch<D>;
  using S = RoundSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sH = reinterpret_cast<bf16*>(smem + S::kH);
  bf16* sE = reinterpret_cast<bf16*>(smem + S::kE);
  float* sS = reinterpret_cast<float*>(smem + S::kS);
  int* sTidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sVidx = sTidx + kRows;

  const int t0 = blockIdx.x * kRows, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int v0 = split * p.tiles_per_split * kRows, v1 = min(p.V, v0 + p.tiles_per_split * kRows);
  if (tid < kRows) sTidx[tid] = t0 + tid < p.T ? t0 + tid : -1;
  __syncthreads();
  load_rows<D>(sH, p.h, p.ld_h, sTidx);

  const int r = warp * 16 + (lane >> 1), half = lane & 1;
  float best = -INFINITY;
  int best_i = 0x7fffffff;
  float* sSw = sS + warp * 16 * P::kLdS;
  for (int vt = v0; vt < v1; vt += kRows) {
    __syncthreads();
    if (tid < kRows) sVidx[tid] = vt + tid < v1 ? vt + tid : -1;
    __syncthreads();
    load_rows<D>(sE, p.emb, D, sVidx);
    __syncthreads();
    rows_times_rowsT<D, 4>(sH + warp * 16 * P::kLdH, P::kLdH, sE, P::kLdH, sSw, P::kLdS);
    __syncwarp();
#pragma unroll 8
    for (int t = 0; t < 32; ++t) {
      const int c = 2 * t + half, v = sVidx[c];
      if (v < 0) continue;
      const float val = sS[r * P::kLdS + c] + p.cvec[v];
      if (beats(val, v, best, best_i)) {
        best = val;
        best_i = v;
      }
    }
    __syncwarp();
  }
  const float ob = __shfl_xor_sync(0xffffffffu, best, 1);
  const int oi = __shfl_xor_sync(0xffffffffu, best_i, 1);
  if (beats(ob, oi, best, best_i)) {
    best = ob;
    best_i = oi;
  }
  const int tok = t0 + r;
  if (half == 0 && tok < p.T) {
    p.part_val[(long long)split * p.T + tok] = best;
    p.part_idx[(long long)split * p.T + tok] = best_i;
  }
}

__global__ void rounding_combine_kernel(const RoundParams p, int32_t* ids) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= p.T) return;
  float best = -INFINITY;
  int bi = 0x7fffffff;
  for (int s = 0; s < p.nsplit; ++s) {
    const float v = p.part_val[(long long)s * p.T + t];
    const int i = p.part_idx[(long long)s * p.T + t];
    if (beats(v, i, best, bi)) {
      best = v;
      bi = i;
    }
  }
  ids[t] = bi == 0x7fffffff ? 0 : bi;  // only for all-NaN rows
}

template <typename Kernel>
void launch(Context& ctx, Kernel kernel, size_t smem, dim3 grid, const RoundParams& p) {
  if (smem > ctx.info().smem_per_block_optin)
    throw_runtime("rounding_ids: needs {} bytes of shared memory, device allows {}", smem,
                  ctx.info().smem_per_block_optin);
  MDS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  kernel<<<grid, kThreads, smem, ctx.stream()>>>(p);
  MDS_CUDA_CHECK_LAUNCH("rounding_kernel");
}

}  // namespace

void rounding_ids(Context& ctx, RoundingMode mode, const bf16* h, long long ld_h, const bf16* emb, const float* bias,
                  int tokens, int vocab, int dim, int32_t* ids) {
  if (tokens < 0 || vocab <= 0) throw_usage("rounding_ids: invalid shape tokens {} vocab {}", tokens, vocab);
  if (dim != 32 && dim != 64 && dim != 128) throw_usage("rounding_ids: dim {} not supported (32, 64 or 128)", dim);
  if (ld_h < dim || ld_h % 8 != 0) throw_usage("rounding_ids: ld_h {} must be a multiple of 8 and >= {}", ld_h, dim);
  if (!h || !emb || !ids) throw_usage("rounding_ids: null tensor pointer");
  if ((reinterpret_cast<uintptr_t>(h) | reinterpret_cast<uintptr_t>(emb)) & 15u)
    throw_usage("rounding_ids: h and emb must be 16-byte aligned");
  if (tokens == 0) return;
  RoundParams p{};
  p.h = h;
  p.ld_h = ld_h;
  p.emb = emb;
  p.T = tokens;
  p.V = vocab;
  p.dim = dim;
  const int token_tiles = ceil_div(tokens, kRows), vocab_tiles = ceil_div(vocab, kRows);
  int nsplit = std::max(1, std::min({ceil_div(2 * ctx.info().sm_count, token_tiles), 32, vocab_tiles}));
  p.tiles_per_split = ceil_div(vocab_tiles, nsplit);
  p.nsplit = ceil_div(vocab_tiles, p.tiles_per_split);
  DeviceBuffer buf = ctx.alloc(size_t(vocab) * 4 + size_t(2) * p.nsplit * tokens * 4);
  p.cvec = buf.as<float>();
  p.part_val = buf.as<float>() + vocab;
  p.part_idx = reinterpret_cast<int32_t*>(p.part_val + size_t(p.nsplit) * tokens);
  rounding_cvec_kernel<<<ceil_div(vocab, 8), 256, 0, ctx.stream()>>>(emb, mode == RoundingMode::argmax_logits ? bias : nullptr,
                                                                    vocab, dim, mode == RoundingMode::nearest ? 1 : 0,
                                                                    const_cast<float*>(p.cvec));
  MDS_CUDA_CHECK_LAUNCH("rounding_cvec_kernel");
  const dim3 grid(token_tiles, p.nsplit);
  switch (dim) {
    case 32: launch(ctx, rounding_kernel<32>, RoundSmem<32>::kBytes, grid, p); break;
    case 64: launch(ctx, rounding_kernel<64>, RoundSmem<64>::kBytes, grid, p); break;
    default: launch(ctx, rounding_kernel<128>, RoundSmem<128>::kBytes, grid, p); break;
  }
  rounding_combine_kernel<<<ceil_div(tokens, 256), 256, 0, ctx.stream()>>>(p, ids);
  MDS_CUDA_CHECK_LAUNCH("rounding_combine_kernel");
}

}  // namespace mds::cuda
