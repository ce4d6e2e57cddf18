// Fused rounding cross-entropy kernels (see cross_entropy.h).
//
// Forward: a block owns 64 tokens and a contiguous split of the vocabulary,
// keeps a running max and sum per token (lane pairs own rows, as in the
// attention forward), and a combine kernel merges the splits. Backward: the
// token gradient dh = Σ_v dlogit·E_v runs by token tile (split partials summed
// in a fixed order), the embedding gradient dE_v = Σ_t dlogit·h_t by
// vocabulary tile; both recompute logits from h and E. No atomics.
#include "kernels/cross_entropy.h"

#include <algorithm>

#include "kernels/tile.cuh"

namespace mds::cuda {

namespace {

using namespace tile;

struct CeParams {
  const bf16* h;
  long long ld_h;
  const bf16* emb;
  const float* bias;
  const int32_t* targets;
  int T, V;
  int nsplit, tiles_per_split;
  const float* lse;
  const float* grad;
  float* part_m;   // [nsplit, T]
  float* part_l;   // [nsplit, T]
  float* tlogit;   // [T]
  float* part_dh;  // [nsplit, Tpad, D]
  int Tpad;
  float* demb;
  float* dbias;
};

template <int D>
struct CeFwdSmem {
  using P = Pitch<D>;
  static constexpr size_t kH = 0, kE = P::kTileH, kS = 2 * P::kTileH, kIdx = kS + P::kTileS;
  static constexpr size_t kBytes = kIdx + 2 * 64 * 4;
};

__device__ __forceinline__ void vocab_range(const CeParams& p, int split, int& v0, int& v1) {
  v0 = split * p.tiles_per_split * kRows;
  v1 = min(p.V, v0 + p.tiles_per_split * kRows);
}

template <int D>
__global__ void __launch_bounds__(kThreads) ce_fwd_kernel(const __grid_constant__ CeParams p) {
  using P = Pitch<D>;
  using S = CeFwdSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sH = reinterpret_cast<bf16*>(smem + S::kH);
  bf16* sE = reinterpret_cast<bf16*>(smem + S::kE);
  float* sS = reinterpret_cast<float*>(smem + S::kS);
  int* sTidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sVidx = sTidx + kRows;

  const int t0 = blockIdx.x * kRows, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int v0, v1;
  vocab_range(p, split, v0, v1);
  if (tid < kRows) sTidx[tid] = t0 + tid < p.T ? t0 + tid : -1;
  __syncthreads();
  load_rows<D>(sH, p.h, p.ld_h, sTidx);

  const int r = warp * 16 + (lane >> 1), half = lane & 1;
  const int tok = t0 + r;
  const int target = tok < p.T ? p.targets[tok] : -1;
  float m = -INFINITY, l = 0.f;
  float* sSw = sS + warp * 16 * P::kLdS;
  for (int vt = v0; vt < v1; vt += kRows) {
    __syncthreads();
    if (tid < kRows) sVidx[tid] = vt + tid < v1 ? vt + tid : -1;
    __syncthreads();
    load_rows<D>(sE, p.emb, D, sVidx);
    __syncthreads();
    rows_times_rowsT<D, 4>(sH + warp * 16 * P::kLdH, P::kLdH, sE, P::kLdH, sSw, P::kLdS);
    __syncwarp();
    float sv[32];
    float mx = -INFINITY;
#pragma unroll
    for (int t = 0; t < 32; ++t) {
      const int c = 2 * t + half;
      const int v = sVidx[c];
      float s = -INFINITY;
      if (v >= 0 && tok < p.T) {
        s = sS[r * P::kLdS + c] + (p.bias ? p.bias[v] : 0.f);
        if (v == target) p.tlogit[tok] = s;  // exactly one lane of one split sees the target
      }
      sv[t] = s;
      mx = fmaxf(mx, s);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m, mx);
    float rs = 0.f, alpha = 1.f;
    if (m_new != -INFINITY) {
      alpha = __expf(m - m_new);
#pragma unroll
      for (int t = 0; t < 32; ++t) rs += __expf(sv[t] - m_new);
    }
    rs += __shfl_xor_sync(0xffffffffu, rs, 1);
    l = l * alpha + rs;
    m = m_new;
    __syncwarp();
  }
  if (half == 0 && tok < p.T) {
    p.part_m[(long long)split * p.T + tok] = m;
    p.part_l[(long long)split * p.T + tok] = l;
  }
}

__global__ void ce_combine_kernel(const CeParams p, float* nll, float* lse) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= p.T) return;
  float M = -INFINITY;
  for (int s = 0; s < p.nsplit; ++s) M = fmaxf(M, p.part_m[(long long)s * p.T + t]);
  float sum = 0.f;
  for (int s = 0; s < p.nsplit; ++s) {
    const float ms = p.part_m[(long long)s * p.T + t];
    if (ms != -INFINITY) sum += p.part_l[(long long)s * p.T + t] * __expf(ms - M);
  }
  const float z = M + logf(sum);
  lse[t] = z;
  const int target = p.targets[t];
  nll[t] = (target >= 0 && target < p.V) ? z - p.tlogit[t] : 0.f;
}

template <int D>
struct CeDhSmem {
  using P = Pitch<D>;
  static constexpr size_t kH = 0, kE = P::kTileH, kS = 2 * P::kTileH, kDS = kS + P::kTileS;
  static constexpr size_t kIdx = kDS + P::kTileP;  // tidx, vidx, target (int), lse, g (float)
  static constexpr size_t kBytes = kIdx + 5 * 64 * 4;
};

template <int D>
__global__ void __launch_bounds__(kThreads) ce_dh_kernel(const __grid_constant__ CeParams p) {
  using P = Pitch<D>;
  using S = CeDhSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sH = reinterpret_cast<bf16*>(smem + S::kH);
  bf16* sE = reinterpret_cast<bf16*>(smem + S::kE);
  float* sS = reinterpret_cast<float*>(smem + S::kS);
  bf16* sDS = reinterpret_cast<bf16*>(smem + S::kDS);
  int* sTidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sVidx = sTidx + kRows;
  int* sTgt = sVidx + kRows;
  float* sLse = reinterpret_cast<float*>(sTgt + kRows);
  float* sG = sLse + kRows;

  const int t0 = blockIdx.x * kRows, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int v0, v1;
  vocab_range(p, split, v0, v1);
  if (tid < kRows) {
    const int t = t0 + tid;
    const bool in = t < p.T;
    sTidx[tid] = in ? t : -1;
    const int tg = in ? p.targets[t] : -1;
    sTgt[tid] = (tg >= 0 && tg < p.V) ? tg : -1;
    sLse[tid] = in ? p.lse[t] : 0.f;
    sG[tid] = sTgt[tid] >= 0 ? p.grad[t] : 0.f;  // ignored tokens have no gradient
  }
  __syncthreads();
  load_rows<D>(sH, p.h, p.ld_h, sTidx);

  FragC acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc[n], 0.f);
  float* sSw = sS + warp * 16 * P::kLdS;
  for (int vt = v0; vt < v1; vt += kRows) {
    __syncthreads();
    if (tid < kRows) sVidx[tid] = vt + tid < v1 ? vt + tid : -1;
    __syncthreads();
    load_rows<D>(sE, p.emb, D, sVidx);
    __syncthreads();
    rows_times_rowsT<D, 4>(sH + warp * 16 * P::kLdH, P::kLdH, sE, P::kLdH, sSw, P::kLdS);
    __syncwarp();
#pragma unroll 4
    for (int t = 0; t < 32; ++t) {
      const int e = lane + 32 * t, rr = warp * 16 + (e >> 6), c = e & 63;
      const int v = sVidx[c];
      float ds = 0.f;
      if (v >= 0 && sTidx[rr] >= 0) {
        const float logit = sS[rr * P::kLdS + c] + (p.bias ? p.bias[v] : 0.f);
        ds = sG[rr] * (__expf(logit - sLse[rr]) - (v == sTgt[rr] ? 1.f : 0.f));
      }
      sDS[rr * kLdP + c] = __float2bfloat16(ds);
    }
    __syncwarp();
    accumulate_p_times_rows<D>(acc, sDS + warp * 16 * kLdP, kLdP, sE, P::kLdH);
  }
  float* out = p.part_dh + ((long long)split * p.Tpad + t0 + warp * 16) * D;
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(out + n * 16, acc[n], D, wmma::mem_row_major);
}

__global__ void ce_dh_combine_kernel(const CeParams p, int D, bf16* dh, int acc) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long long)p.T * D) return;
  float s = acc ? __bfloat162float(dh[i]) : 0.f;
  for (int k = 0; k < p.nsplit; ++k) s += p.part_dh[(long long)k * p.Tpad * D + i];
  dh[i] = __float2bfloat16(s);
}

template <int D>
struct CeDeSmem {
  using P = Pitch<D>;
  static constexpr size_t kE = 0, kH = P::kTileH, kST = 2 * P::kTileH, kDST = kST + P::kTileS;
  static constexpr size_t kIdx = kDST + P::kTileP;  // vidx, tidx, target (int), lse, g (float)
  static constexpr size_t kBytes = kIdx + 5 * 64 * 4;
};

template <int D>
__global__ void __launch_bounds__(kThreads) ce_demb_kernel(const __grid_constant__ CeParams p) {
  using P = Pitch<D>;
  using S = CeDeSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sE = reinterpret_cast<bf16*>(smem + S::kE);
  bf16* sH = reinterpret_cast<bf16*>(smem + S::kH);
  float* sST = reinterpret_cast<float*>(smem + S::kST);
  bf16* sDST = reinterpret_cast<bf16*>(smem + S::kDST);
  int* sVidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sTidx = sVidx + kRows;
  int* sTgt = sTidx + kRows;
  float* sLse = reinterpret_cast<float*>(sTgt + kRows);
  float* sG = sLse + kRows;

  const int vbase = blockIdx.x * kRows;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  if (tid < kRows) sVidx[tid] = vbase + tid < p.V ? vbase + tid : -1;
  __syncthreads();
  load_rows<D>(sE, p.emb, D, sVidx);

  FragC acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc[n], 0.f);
  float db[16];
#pragma unroll
  for (int k = 0; k < 16; ++k) db[k] = 0.f;
  float* sSTw = sST + warp * 16 * P::kLdS;
  for (int t0 = 0; t0 < p.T; t0 += kRows) {
    __syncthreads();
    if (tid < kRows) {
      const int t = t0 + tid;
      const bool in = t < p.T;
      sTidx[tid] = in ? t : -1;
      const int tg = in ? p.targets[t] : -1;
      sTgt[tid] = (tg >= 0 && tg < p.V) ? tg : -1;
      sLse[tid] = in ? p.lse[t] : 0.f;
      sG[tid] = sTgt[tid] >= 0 ? p.grad[t] : 0.f;
    }
    __syncthreads();
    load_rows<D>(sH, p.h, p.ld_h, sTidx);
    __syncthreads();
    rows_times_rowsT<D, 4>(sE + warp * 16 * P::kLdH, P::kLdH, sH, P::kLdH, sSTw, P::kLdS);
    __syncwarp();
#pragma unroll
    for (int t = 0; t < 32; ++t) {
      const int vr = warp * 16 + (t >> 1), c = lane + 32 * (t & 1);
      const int v = sVidx[vr];
      float ds = 0.f;
      if (v >= 0 && sTidx[c] >= 0) {
        const float logit = sST[vr * P::kLdS + c] + (p.bias ? p.bias[v] : 0.f);
        ds = sG[c] * (__expf(logit - sLse[c]) - (v == sTgt[c] ? 1.f : 0.f));
      }
      db[t >> 1] += ds;
      sDST[vr * kLdP + c] = __float2bfloat16(ds);
    }
    __syncwarp();
    accumulate_p_times_rows<D>(acc, sDST + warp * 16 * kLdP, kLdP, sH, P::kLdH);
  }
  // dE rows += acc (each block owns its 64 rows), staged through the warp's score rows.
  __syncwarp();
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(sSTw + n * 16, acc[n], P::kLdS, wmma::mem_row_major);
  __syncwarp();
  const int row0 = vbase + warp * 16;
  for (int e = lane; e < 16 * D; e += 32) {
    const int rr = e / D, c = e % D;
    if (row0 + rr < p.V) p.demb[(long long)(row0 + rr) * D + c] += sSTw[rr * P::kLdS + c];
  }
  if (p.dbias) {
#pragma unroll
    for (int k = 0; k < 16; ++k) {
      const float s = warp_sum(db[k]);
      if (lane == 0 && row0 + k < p.V) p.dbias[row0 + k] += s;
    }
  }
}

template <typename Kernel>
void launch(Context& ctx, Kernel kernel, size_t smem, dim3 grid, const CeParams& p, const char* what) {
  if (smem > ctx.info().smem_per_block_optin)
    throw_runtime("{}: needs {} bytes of shared memory, device allows {}", what, smem,
                  ctx.info().smem_per_block_optin);
  MDS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  kernel<<<grid, kThreads, smem, ctx.stream()>>>(p);
  MDS_CUDA_CHECK_LAUNCH(what);
}

CeParams make_params(Context& ctx, const RoundingCeArgs& a, const char* what) {
  if (a.tokens < 0 || a.vocab <= 0) throw_usage("{}: invalid shape tokens {} vocab {}", what, a.tokens, a.vocab);
  if (a.dim != 32 && a.dim != 64 && a.dim != 128) throw_usage("{}: dim {} not supported (32, 64 or 128)", what, a.dim);
  if (a.ld_h < a.dim || a.ld_h % 8 != 0)
    throw_usage("{}: ld_h {} must be a multiple of 8 and at least dim {}", what, a.ld_h, a.dim);
  if (!a.h || !a.emb || !a.targets) throw_usage("{}: null tensor pointer", what);
  if ((reinterpret_cast<uintptr_t>(a.h) | reinterpret_cast<uintptr_t>(a.emb)) & 15u)
    throw_usage("{}: h and emb must be 16-byte aligned", what);
  CeParams p{};
  p.h = a.h;
  p.ld_h = a.ld_h;
  p.emb = a.emb;
  p.bias = a.bias;
  p.targets = a.targets;
  p.T = a.tokens;
  p.V = a.vocab;
  const int token_tiles = ceil_div(std::max(a.tokens, 1), kRows), vocab_tiles = ceil_div(a.vocab, kRows);
  // Enough blocks to fill the device twice; each split covers whole 64-entry tiles.
  int nsplit = ceil_div(2 * ctx.info().sm_count, token_tiles);
  nsplit = std::max(1, std::min({nsplit, 32, vocab_tiles}));
  p.tiles_per_split = ceil_div(vocab_tiles, nsplit);
  p.nsplit = ceil_div(vocab_tiles, p.tiles_per_split);  // no empty split
  p.Tpad = token_tiles * kRows;
  return p;
}

}  // namespace

void rounding_ce_forward(Context& ctx, const RoundingCeArgs& a, float* nll, float* lse) {
  const char* what = "rounding_ce_forward";
  CeParams p = make_params(ctx, a, what);
  if (a.tokens == 0) return;
  DeviceBuffer buf = ctx.alloc_n<float>(size_t(2 * p.nsplit + 1) * p.T);
  p.part_m = buf.as<float>();
  p.part_l = p.part_m + size_t(p.nsplit) * p.T;
  p.tlogit = p.part_l + size_t(p.nsplit) * p.T;
  const dim3 grid(ceil_div(p.T, kRows), p.nsplit);
  switch (a.dim) {
    case 32: launch(ctx, ce_fwd_kernel<32>, CeFwdSmem<32>::kBytes, grid, p, what); break;
    case 64: launch(ctx, ce_fwd_kernel<64>, CeFwdSmem<64>::kBytes, grid, p, what); break;
    default: launch(ctx, ce_fwd_kernel<128>, CeFwdSmem<128>::kBytes, grid, p, what); break;
  }
  ce_combine_kernel<<<ceil_div(p.T, 256), 256, 0, ctx.stream()>>>(p, nll, lse);
  MDS_CUDA_CHECK_LAUNCH("ce_combine_kernel");
}

void rounding_ce_backward(Context& ctx, const RoundingCeArgs& a, const float* lse, const float* grad, bf16* dh,
                          float* demb, float* dbias, bool accumulate_dh) {
  const char* what = "rounding_ce_backward";
  CeParams p = make_params(ctx, a, what);
  if (!lse || !grad || !dh || !demb) throw_usage("{}: null tensor pointer", what);
  if (a.tokens == 0) return;
  p.lse = lse;
  p.grad = grad;
  p.demb = demb;
  p.dbias = dbias;
  DeviceBuffer part = ctx.alloc_n<float>(size_t(p.nsplit) * p.Tpad * a.dim);
  p.part_dh = part.as<float>();
  const dim3 grid_t(ceil_div(p.T, kRows), p.nsplit), grid_v(ceil_div(p.V, kRows));
  switch (a.dim) {
    case 32:
      launch(ctx, ce_dh_kernel<32>, CeDhSmem<32>::kBytes, grid_t, p, what);
      launch(ctx, ce_demb_kernel<32>, CeDeSmem<32>::kBytes, grid_v, p, what);
      break;
    case 64:
      launch(ctx, ce_dh_kernel<64>, CeDhSmem<64>::kBytes, grid_t, p, what);
      launch(ctx, ce_demb_kernel<64>, CeDeSmem<64>::kBytes, grid_v, p, what);
      break;
    default:
      launch(ctx, ce_dh_kernel<128>, CeDhSmem<128>::kBytes, grid_t, p, what);
      launch(ctx, ce_demb_kernel<128>, CeDeSmem<128>::kBytes, grid_v, p, what);
      break;
  }
  const long long n = (long long)p.T * a.dim;
  ce_dh_combine_kernel<<<unsigned(ceil_div_ll(n, 256)), 256, 0, ctx.stream()>>>(p, a.dim, dh, accumulate_dh ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("ce_dh_combine_kernel");
}

}  // namespace mds::cuda
