// Fused sliding-window + global attention (see attention.h).
//
// Tiling: a block owns 64 queries (forward, dQ) or 64 keys (dK/dV) of one
// (example, head) and 4 warps each own 16 of those rows, so after a shared tile
// load the warps never wait for each other. The partner tiles visited are the
// contiguous band that can hold window members (every valid key when a global
// row is in the tile), then the example's global positions outside that band,
// gathered 64 at a time. The same mask predicate (`allowed`) is evaluated per
// element everywhere, so the union is exact. Backward follows FlashAttention-2
// (Dao, 2023, Alg. 2) split in two kernels, dK/dV by key tile and dQ by query
// tile, so no atomics: results are deterministic.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/tile.cuh"

namespace mds::cuda {

namespace {

using namespace tile;

struct AttnParams {
  const bf16 *q, *k, *v;
  long long ld_qkv;
  const bf16* out_in;  // backward: forward output
  const bf16* dout;
  bf16* out;  // forward output
  long long ld_o;
  bf16 *dq, *dk, *dv;
  long long ld_d;
  float* lse;
  float* delta;
  const int32_t* lengths;
  const uint8_t* gmask;
  const int32_t* glist;
  long long glist_stride;
  const int32_t* gcount;
  int L, H;
  int accumulate;  // backward: add into dq/dk/dv instead of overwriting
  float scale;
  int span[kAttentionMaxHeads];  // window · dilation, clamped to L
  int dil[kAttentionMaxHeads];
};

__device__ __forceinline__ bool allowed(int i, int j, bool qg, bool kg, int span, int dil) {
  if (i < 0 || j < 0) return false;  // no such query / key (indices are -1 there)
  if (qg || kg) return true;
  int d = i - j;
  d = d < 0 ? -d : d;
  return d <= span && (dil == 1 || d % dil == 0);  // an integer division costs ~20 instructions
}

// Whether every pair of two contiguous, fully valid 64-row tiles starting at
// a0 and b0 lies inside an undilated window: then the mask is all ones and the
// per-element test is skipped (most band tiles of a wide window).
__device__ __forceinline__ bool tile_inside_band(int a0, int b0, int span, int dil) {
  const int far = a0 > b0 ? a0 + kRows - 1 - b0 : b0 + kRows - 1 - a0;
  return dil == 1 && far <= span;
}

__device__ __forceinline__ int example_length(const AttnParams& p, int b) {
  int len = p.lengths[b];
  return len < 0 ? 0 : (len > p.L ? p.L : len);
}

// Fills a 64-entry partner index list for a contiguous tile [t0, t0+64) ∩ [.., end).
__device__ __forceinline__ void fill_band_idx(int* idx, uint8_t* glob, int t0, int end, const uint8_t* gmask_b) {
  if (threadIdx.x < kRows) {
    const int j = t0 + threadIdx.x;
    const int jj = j < end ? j : -1;
    idx[threadIdx.x] = jj;
    glob[threadIdx.x] = (jj >= 0 && gmask_b) ? gmask_b[jj] : 0;
  }
}

// Fills it from the global list, skipping positions in [b0, b1) (already visited) or >= len.
__device__ __forceinline__ void fill_global_idx(int* idx, uint8_t* glob, const int32_t* list_b, int g0, int count,
                                                int b0, int b1, int len) {
  if (threadIdx.x < kRows) {
    const int n = g0 + threadIdx.x;
    int j = n < count ? list_b[n] : -1;
    if (j >= len || (j >= b0 && j < b1)) j = -1;
    idx[threadIdx.x] = j;
    glob[threadIdx.x] = j >= 0 ? 1 : 0;
  }
}

// Keys a query tile [q0, q0+64) must visit: everything valid when the tile
// holds a global query, else the band [q0 - span, q_last + span] clipped to the
// valid keys [0, len). Returns whether the global keys outside the band still
// need their own pass.
__device__ __forceinline__ bool key_band(bool has_gq, int q0, int L, int len, int span, int& kb0, int& kb1) {
  const int qend = min(q0 + kRows, L);
  kb0 = has_gq ? 0 : max(0, q0 - span);
  kb1 = has_gq ? len : min(len, qend + span);
  if (kb1 < kb0) kb1 = kb0;
  return !(kb0 == 0 && kb1 >= len);
}

// ---------------------------------------------------------------- forward

template <int D>
struct FwdSmem {
  using P = Pitch<D>;
  static constexpr size_t kQ = 0, kK = P::kTileH, kV = 2 * P::kTileH, kS = 3 * P::kTileH;
  static constexpr size_t kP = kS + P::kTileS;
  static constexpr size_t kIdx = kP + P::kTileP;  // qidx[64], kidx[64], qg[64], kg[64]
  static constexpr size_t kBytes = kIdx + 2 * 64 * 4 + 2 * 64;
};

template <int D>
__global__ void __launch_bounds__(kThreads) attention_fwd_kernel(const __grid_constant__ AttnParams p) {
  using P = Pitch<D>;
  using S = FwdSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sQ = reinterpret_cast<bf16*>(smem + S::kQ);
  bf16* sK = reinterpret_cast<bf16*>(smem + S::kK);
  bf16* sV = reinterpret_cast<bf16*>(smem + S::kV);
  float* sS = reinterpret_cast<float*>(smem + S::kS);
  bf16* sP = reinterpret_cast<bf16*>(smem + S::kP);
  int* sQidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sKidx = sQidx + kRows;
  uint8_t* sQg = reinterpret_cast<uint8_t*>(sKidx + kRows);
  uint8_t* sKg = sQg + kRows;

  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kRows;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int L = p.L, len = example_length(p, b);
  const long long tok0 = (long long)b * L;
  const uint8_t* gmask_b = p.gmask ? p.gmask + tok0 : nullptr;
  const bf16* qb = p.q + tok0 * p.ld_qkv + h * D;
  const bf16* kb = p.k + tok0 * p.ld_qkv + h * D;
  const bf16* vb = p.v + tok0 * p.ld_qkv + h * D;

  if (tid < kRows) {
    const int i = q0 + tid;
    sQidx[tid] = i < L ? i : -1;
    sQg[tid] = (i < L && gmask_b) ? gmask_b[i] : 0;
  }
  __syncthreads();
  const bool has_gq = __syncthreads_or(tid < kRows && sQg[tid]);
  load_rows<D>(sQ, qb, p.ld_qkv, sQidx);

  const int span = p.span[h], dil = p.dil[h];
  int kb0, kb1;
  const bool global_pass = key_band(has_gq, q0, L, len, span, kb0, kb1);

  // Lane pair (2r, 2r+1) of a warp owns row r of the warp's 16; columns interleave.
  const int r = warp * 16 + (lane >> 1), half = lane & 1;
  float m = -INFINITY, l = 0.f;
  float o[D / 2];
#pragma unroll
  for (int t = 0; t < D / 2; ++t) o[t] = 0.f;

  auto process_tile = [&](bool full) {
    __syncthreads();  // indices visible
    load_rows<D>(sK, kb, p.ld_qkv, sKidx);
    load_rows<D>(sV, vb, p.ld_qkv, sKidx);
    __syncthreads();
    float* sSw = sS + warp * 16 * P::kLdS;
    rows_times_rowsT<D, 4>(sQ + warp * 16 * P::kLdH, P::kLdH, sK, P::kLdH, sSw, P::kLdS);
    __syncwarp();
    const int i = sQidx[r];
    const bool qg = sQg[r];
    float sv[32];
    float mx = -INFINITY;
#pragma unroll
    for (int t = 0; t < 32; ++t) {
      const int c = 2 * t + half;
      const bool ok = full || allowed(i, sKidx[c], qg, sKg[c], span, dil);
      sv[t] = ok ? sS[r * P::kLdS + c] * p.scale : -INFINITY;
      mx = fmaxf(mx, sv[t]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m, mx);
    float alpha = 1.f, rs = 0.f;
    if (m_new != -INFINITY) {
      alpha = __expf(m - m_new);  // 0 when m was -inf
#pragma unroll
      for (int t = 0; t < 32; ++t) {
        sv[t] = __expf(sv[t] - m_new);
        rs += sv[t];
      }
    } else {
#pragma unroll
      for (int t = 0; t < 32; ++t) sv[t] = 0.f;
    }
    rs += __shfl_xor_sync(0xffffffffu, rs, 1);
    l = l * alpha + rs;
    m = m_new;
#pragma unroll
    for (int t = 0; t < 32; ++t) sP[r * kLdP + 2 * t + half] = __float2bfloat16(sv[t]);
    __syncwarp();
    // PV for the warp's 16 rows, staged through the warp's own score rows.
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      FragC acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kc = 0; kc < 4; ++kc) {
        FragA fa;
        FragB fb;
        wmma::load_matrix_sync(fa, sP + warp * 16 * kLdP + kc * 16, kLdP);
        wmma::load_matrix_sync(fb, sV + kc * 16 * P::kLdH + n * 16, P::kLdH);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(sSw + n * 16, acc, P::kLdS, wmma::mem_row_major);
    }
    __syncwarp();
#pragma unroll
    for (int t = 0; t < D / 2; ++t) o[t] = o[t] * alpha + sS[r * P::kLdS + 2 * t + half];
    __syncwarp();
  };

  for (int kt = kb0; kt < kb1; kt += kRows) {
    __syncthreads();  // previous tile consumed
    fill_band_idx(sKidx, sKg, kt, kb1, gmask_b);
    process_tile(q0 + kRows <= L && kt + kRows <= kb1 && tile_inside_band(q0, kt, span, dil));
  }
  if (global_pass && p.glist) {
    const int count = p.gcount[b];
    for (int g0 = 0; g0 < count; g0 += kRows) {
      __syncthreads();
      fill_global_idx(sKidx, sKg, p.glist + b * p.glist_stride, g0, count, kb0, kb1, len);
      process_tile(false);
    }
  }

  // Normalise, stage the warp's rows as fp32 in its score rows, write bf16.
  __syncthreads();
  const float inv = l > 0.f ? 1.f / l : 0.f;
  float* sSw = sS + warp * 16 * P::kLdS;
#pragma unroll
  for (int t = 0; t < D / 2; ++t) sS[r * P::kLdS + 2 * t + half] = o[t] * inv;
  const int i_row = q0 + r;
  // A query with no visible key (a padding query out of reach of every valid key) outputs 0, lse = -inf.
  if (half == 0 && i_row < L) p.lse[((long long)b * p.H + h) * L + i_row] = l > 0.f ? m + logf(l) : -INFINITY;
  __syncwarp();
  const int row0 = q0 + warp * 16;
  store_rows_bf16<D>(sSw, P::kLdS, p.out + (tok0 + row0) * p.ld_o + h * D, p.ld_o, 0, L - row0, lane, false);
}

// ---------------------------------------------------------------- backward

// delta[b, h, i] = Σ_d dO·O (FlashAttention-2's D_i), one warp per (b, i, h).
__global__ void attention_delta_kernel(const __grid_constant__ AttnParams p, int head_dim, long long rows) {
  const long long w = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (w >= rows) return;
  const int h = int(w % p.H);
  const long long bi = w / p.H;  // b*L + i
  const int b = int(bi / p.L), i = int(bi % p.L);
  const bf16* o = p.out_in + bi * p.ld_o + (long long)h * head_dim;
  const bf16* d = p.dout + bi * p.ld_o + (long long)h * head_dim;
  float s = 0.f;
  for (int e = lane; e < head_dim; e += 32) s += __bfloat162float(o[e]) * __bfloat162float(d[e]);
  s = warp_sum(s);
  if (lane == 0) p.delta[((long long)b * p.H + h) * p.L + i] = s;
}

template <int D>
struct DqSmem {
  using P = Pitch<D>;
  static constexpr size_t kQ = 0, kDO = P::kTileH, kK = 2 * P::kTileH, kV = 3 * P::kTileH;
  static constexpr size_t kS = 4 * P::kTileH, kDP = kS + P::kTileS, kDS = kDP + P::kTileS;
  static constexpr size_t kIdx = kDS + P::kTileP;  // qidx, kidx (int), lse, delta (float), qg, kg
  static constexpr size_t kBytes = kIdx + 4 * 64 * 4 + 2 * 64;
};

template <int D>
__global__ void __launch_bounds__(kThreads) attention_dq_kernel(const __grid_constant__ AttnParams p) {
  using P = Pitch<D>;
  using S = DqSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sQ = reinterpret_cast<bf16*>(smem + S::kQ);
  bf16* sDO = reinterpret_cast<bf16*>(smem + S::kDO);
  bf16* sK = reinterpret_cast<bf16*>(smem + S::kK);
  bf16* sV = reinterpret_cast<bf16*>(smem + S::kV);
  float* sS = reinterpret_cast<float*>(smem + S::kS);
  float* sDP = reinterpret_cast<float*>(smem + S::kDP);
  bf16* sDS = reinterpret_cast<bf16*>(smem + S::kDS);
  int* sQidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sKidx = sQidx + kRows;
  float* sLse = reinterpret_cast<float*>(sKidx + kRows);
  float* sDelta = sLse + kRows;
  uint8_t* sQg = reinterpret_cast<uint8_t*>(sDelta + kRows);
  uint8_t* sKg = sQg + kRows;

  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kRows;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int L = p.L, len = example_length(p, b);
  const long long tok0 = (long long)b * L;
  const long long row_bh = ((long long)b * p.H + h) * L;
  const uint8_t* gmask_b = p.gmask ? p.gmask + tok0 : nullptr;
  const bf16* kb = p.k + tok0 * p.ld_qkv + h * D;
  const bf16* vb = p.v + tok0 * p.ld_qkv + h * D;

  if (tid < kRows) {
    const int i = q0 + tid;
    const bool in = i < L;
    sQidx[tid] = in ? i : -1;
    sQg[tid] = (in && gmask_b) ? gmask_b[i] : 0;
    sLse[tid] = in ? p.lse[row_bh + i] : 0.f;
    sDelta[tid] = in ? p.delta[row_bh + i] : 0.f;
  }
  __syncthreads();
  const bool has_gq = __syncthreads_or(tid < kRows && sQg[tid]);
  load_rows<D>(sQ, p.q + tok0 * p.ld_qkv + h * D, p.ld_qkv, sQidx);
  load_rows<D>(sDO, p.dout + tok0 * p.ld_o + h * D, p.ld_o, sQidx);

  const int span = p.span[h], dil = p.dil[h];
  int kb0, kb1;
  const bool global_pass = key_band(has_gq, q0, L, len, span, kb0, kb1);

  FragC acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc[n], 0.f);
  float* sSw = sS + warp * 16 * P::kLdS;
  float* sDPw = sDP + warp * 16 * P::kLdS;

  auto process_tile = [&](bool full) {
    __syncthreads();
    load_rows<D>(sK, kb, p.ld_qkv, sKidx);
    load_rows<D>(sV, vb, p.ld_qkv, sKidx);
    __syncthreads();
    rows_times_rowsT<D, 4>(sQ + warp * 16 * P::kLdH, P::kLdH, sK, P::kLdH, sSw, P::kLdS);
    rows_times_rowsT<D, 4>(sDO + warp * 16 * P::kLdH, P::kLdH, sV, P::kLdH, sDPw, P::kLdS);
    __syncwarp();
#pragma unroll 4
    for (int t = 0; t < 32; ++t) {
      const int e = lane + 32 * t, rr = warp * 16 + (e >> 6), c = e & 63;
      float ds = 0.f;
      if (full || allowed(sQidx[rr], sKidx[c], sQg[rr], sKg[c], span, dil)) {
        const float pr = __expf(sS[rr * P::kLdS + c] * p.scale - sLse[rr]);
        ds = pr * (sDP[rr * P::kLdS + c] - sDelta[rr]);
      }
      sDS[rr * kLdP + c] = __float2bfloat16(ds);
    }
    __syncwarp();
    accumulate_p_times_rows<D>(acc, sDS + warp * 16 * kLdP, kLdP, sK, P::kLdH);
  };

  for (int kt = kb0; kt < kb1; kt += kRows) {
    __syncthreads();
    fill_band_idx(sKidx, sKg, kt, kb1, gmask_b);
    process_tile(q0 + kRows <= L && kt + kRows <= kb1 && tile_inside_band(q0, kt, span, dil));
  }
  if (global_pass && p.glist) {
    const int count = p.gcount[b];
    for (int g0 = 0; g0 < count; g0 += kRows) {
      __syncthreads();
      fill_global_idx(sKidx, sKg, p.glist + b * p.glist_stride, g0, count, kb0, kb1, len);
      process_tile(false);
    }
  }
  __syncwarp();
#pragma unroll
  for (int n = 0; n < D / 16; ++n) {
#pragma unroll
    for (int e = 0; e < acc[n].num_elements; ++e) acc[n].x[e] *= p.scale;
    wmma::store_matrix_sync(sSw + n * 16, acc[n], P::kLdS, wmma::mem_row_major);
  }
  __syncwarp();
  const int row0 = q0 + warp * 16;
  store_rows_bf16<D>(sSw, P::kLdS, p.dq + (tok0 + row0) * p.ld_d + h * D, p.ld_d, 0, L - row0, lane, p.accumulate);
}

template <int D>
struct DkvSmem {
  using P = Pitch<D>;
  static constexpr size_t kK = 0, kV = P::kTileH, kQ = 2 * P::kTileH, kDO = 3 * P::kTileH;
  static constexpr size_t kST = 4 * P::kTileH, kDPT = kST + P::kTileS, kPT = kDPT + P::kTileS;
  static constexpr size_t kDST = kPT + P::kTileP;
  static constexpr size_t kIdx = kDST + P::kTileP;
  static constexpr size_t kBytes = kIdx + 4 * 64 * 4 + 2 * 64;
};

template <int D>
__global__ void __launch_bounds__(kThreads) attention_dkv_kernel(const __grid_constant__ AttnParams p) {
  using P = Pitch<D>;
  using S = DkvSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sK = reinterpret_cast<bf16*>(smem + S::kK);
  bf16* sV = reinterpret_cast<bf16*>(smem + S::kV);
  bf16* sQ = reinterpret_cast<bf16*>(smem + S::kQ);
  bf16* sDO = reinterpret_cast<bf16*>(smem + S::kDO);
  float* sST = reinterpret_cast<float*>(smem + S::kST);
  float* sDPT = reinterpret_cast<float*>(smem + S::kDPT);
  bf16* sPT = reinterpret_cast<bf16*>(smem + S::kPT);
  bf16* sDST = reinterpret_cast<bf16*>(smem + S::kDST);
  int* sKidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sQidx = sKidx + kRows;
  float* sLse = reinterpret_cast<float*>(sQidx + kRows);
  float* sDelta = sLse + kRows;
  uint8_t* sKg = reinterpret_cast<uint8_t*>(sDelta + kRows);
  uint8_t* sQg = sKg + kRows;

  const int b = blockIdx.z, h = blockIdx.y, k0 = blockIdx.x * kRows;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int L = p.L, len = example_length(p, b);
  const long long tok0 = (long long)b * L;
  const long long row_bh = ((long long)b * p.H + h) * L;
  const uint8_t* gmask_b = p.gmask ? p.gmask + tok0 : nullptr;
  const bf16* qb = p.q + tok0 * p.ld_qkv + h * D;
  const bf16* dob = p.dout + tok0 * p.ld_o + h * D;

  fill_band_idx(sKidx, sKg, k0, len, gmask_b);
  __syncthreads();
  const bool has_gk = __syncthreads_or(tid < kRows && sKg[tid]);
  load_rows<D>(sK, p.k + tok0 * p.ld_qkv + h * D, p.ld_qkv, sKidx);
  load_rows<D>(sV, p.v + tok0 * p.ld_qkv + h * D, p.ld_qkv, sKidx);

  const int span = p.span[h], dil = p.dil[h];
  // Queries that can see this tile's keys: all of them if a key is global, else
  // the window band (any query index < L, padding queries included) and the
  // global queries outside it.
  const bool live = k0 < len;
  const int kend = min(k0 + kRows, len);
  int qb0 = has_gk ? 0 : max(0, k0 - span);
  int qb1 = has_gk ? L : min(L, kend + span);
  if (!live) qb0 = qb1 = 0;
  const bool global_pass = live && !(qb0 == 0 && qb1 == L);

  FragC dk[D / 16], dv[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) {
    wmma::fill_fragment(dk[n], 0.f);
    wmma::fill_fragment(dv[n], 0.f);
  }
  float* sSTw = sST + warp * 16 * P::kLdS;
  float* sDPTw = sDPT + warp * 16 * P::kLdS;

  auto process_tile = [&](bool full) {
    if (threadIdx.x < kRows) {
      const int i = sQidx[threadIdx.x];
      sLse[threadIdx.x] = i >= 0 ? p.lse[row_bh + i] : 0.f;
      sDelta[threadIdx.x] = i >= 0 ? p.delta[row_bh + i] : 0.f;
    }
    __syncthreads();
    load_rows<D>(sQ, qb, p.ld_qkv, sQidx);
    load_rows<D>(sDO, dob, p.ld_o, sQidx);
    __syncthreads();
    // Sᵀ and dPᵀ for the warp's 16 keys against the 64 queries.
    rows_times_rowsT<D, 4>(sK + warp * 16 * P::kLdH, P::kLdH, sQ, P::kLdH, sSTw, P::kLdS);
    rows_times_rowsT<D, 4>(sV + warp * 16 * P::kLdH, P::kLdH, sDO, P::kLdH, sDPTw, P::kLdS);
    __syncwarp();
#pragma unroll 4
    for (int t = 0; t < 32; ++t) {
      const int e = lane + 32 * t, kr = warp * 16 + (e >> 6), c = e & 63;
      float pr = 0.f, ds = 0.f;
      if (full || allowed(sQidx[c], sKidx[kr], sQg[c], sKg[kr], span, dil)) {
        pr = __expf(sST[kr * P::kLdS + c] * p.scale - sLse[c]);
        ds = pr * (sDPT[kr * P::kLdS + c] - sDelta[c]);
      }
      sPT[kr * kLdP + c] = __float2bfloat16(pr);
      sDST[kr * kLdP + c] = __float2bfloat16(ds);
    }
    __syncwarp();
    accumulate_p_times_rows<D>(dv, sPT + warp * 16 * kLdP, kLdP, sDO, P::kLdH);
    accumulate_p_times_rows<D>(dk, sDST + warp * 16 * kLdP, kLdP, sQ, P::kLdH);
  };

  for (int qt = qb0; qt < qb1; qt += kRows) {
    __syncthreads();
    fill_band_idx(sQidx, sQg, qt, qb1, gmask_b);
    __syncthreads();
    process_tile(k0 + kRows <= len && qt + kRows <= qb1 && tile_inside_band(k0, qt, span, dil));
  }
  if (global_pass && p.glist) {
    const int count = p.gcount[b];
    for (int g0 = 0; g0 < count; g0 += kRows) {
      __syncthreads();
      fill_global_idx(sQidx, sQg, p.glist + b * p.glist_stride, g0, count, qb0, qb1, L);
      __syncthreads();
      process_tile(false);
    }
  }
  __syncwarp();
  const int row0 = k0 + warp * 16;
#pragma unroll
  for (int n = 0; n < D / 16; ++n) {
#pragma unroll
    for (int e = 0; e < dk[n].num_elements; ++e) dk[n].x[e] *= p.scale;
    wmma::store_matrix_sync(sSTw + n * 16, dk[n], P::kLdS, wmma::mem_row_major);
    wmma::store_matrix_sync(sDPTw + n * 16, dv[n], P::kLdS, wmma::mem_row_major);
  }
  __syncwarp();
  store_rows_bf16<D>(sSTw, P::kLdS, p.dk + (tok0 + row0) * p.ld_d + h * D, p.ld_d, 0, L - row0, lane, p.accumulate);
  store_rows_bf16<D>(sDPTw, P::kLdS, p.dv + (tok0 + row0) * p.ld_d + h * D, p.ld_d, 0, L - row0, lane,
                     p.accumulate);
}

// ---------------------------------------------------------------- host side

bool misaligned(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) != 0; }

AttnParams make_params(const AttentionShape& s, const AttentionPattern& pat, const AttentionGlobals* g,
                       const int32_t* lengths, long long ld_qkv, const char* what) {
  if (s.batch <= 0 || s.seq_len <= 0 || s.heads <= 0)
    throw_usage("{}: empty shape (batch {}, seq_len {}, heads {})", what, s.batch, s.seq_len, s.heads);
  if (s.head_dim != 32 && s.head_dim != 64 && s.head_dim != 128)
    throw_usage("{}: head_dim {} not supported (32, 64 or 128)", what, s.head_dim);
  if (s.heads > kAttentionMaxHeads) throw_usage("{}: {} heads, at most {}", what, s.heads, kAttentionMaxHeads);
  if (s.batch > 65535) throw_usage("{}: batch {} exceeds 65535", what, s.batch);
  if (pat.window < 0) throw_usage("{}: negative window {}", what, pat.window);
  if (!pat.dilation.empty() && int(pat.dilation.size()) != s.heads)
    throw_usage("{}: {} dilation values for {} heads", what, pat.dilation.size(), s.heads);
  if (ld_qkv < (long long)s.heads * s.head_dim || ld_qkv % 8 != 0)
    throw_usage("{}: ld_qkv {} must be a multiple of 8 and at least heads*head_dim = {}", what, ld_qkv,
                s.heads * s.head_dim);
  if (!lengths) throw_usage("{}: lengths pointer is null", what);
  if (g && (g->batch() != s.batch || g->seq_len() != s.seq_len))
    throw_usage("{}: globals built for batch {} × L {}, used with {} × {}", what, g->batch(), g->seq_len(), s.batch,
                s.seq_len);
  AttnParams p{};
  p.L = s.seq_len;
  p.H = s.heads;
  p.ld_qkv = ld_qkv;
  p.lengths = lengths;
  p.scale = s.scale > 0.f ? s.scale : 1.f / std::sqrt(float(s.head_dim));
  for (int h = 0; h < s.heads; ++h) {
    const int dil = pat.dilation.empty() ? 1 : pat.dilation[h];
    if (dil < 1) throw_usage("{}: dilation of head {} is {}, must be >= 1", what, h, dil);
    p.dil[h] = dil;
    p.span[h] = int(std::min<long long>((long long)pat.window * dil, s.seq_len));
  }
  if (g) {
    p.gmask = g->mask();
    p.glist = g->list();
    p.glist_stride = g->list_stride();
    p.gcount = g->count();
  }
  return p;
}

template <typename Kernel>
void launch(Context& ctx, Kernel kernel, size_t smem, dim3 grid, const AttnParams& p, const char* what) {
  if (smem > ctx.info().smem_per_block_optin)
    throw_runtime("{}: needs {} bytes of shared memory, device allows {}", what, smem,
                  ctx.info().smem_per_block_optin);
  MDS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  kernel<<<grid, kThreads, smem, ctx.stream()>>>(p);
  MDS_CUDA_CHECK_LAUNCH(what);
}

// lengths[b] = index of the first zero of valid[b] (L if none); one warp per example.
__global__ void lengths_from_valid_kernel(const uint8_t* valid, int B, int L, int32_t* lengths) {
  const int b = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (b >= B) return;
  int first_zero = L;
  for (int i = lane; i < L; i += 32)
    if (!valid[(long long)b * L + i]) {
      first_zero = i;
      break;
    }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) first_zero = min(first_zero, __shfl_xor_sync(0xffffffffu, first_zero, o));
  if (lane == 0) lengths[b] = first_zero;
}

}  // namespace

void attention_lengths_from_valid(Context& ctx, const uint8_t* valid, int batch, int seq_len, int32_t* lengths) {
  if (batch <= 0 || seq_len <= 0) throw_usage("attention_lengths_from_valid: empty shape {} × {}", batch, seq_len);
  lengths_from_valid_kernel<<<ceil_div(batch, 8), 256, 0, ctx.stream()>>>(valid, batch, seq_len, lengths);
  MDS_CUDA_CHECK_LAUNCH("lengths_from_valid_kernel");
}

AttentionGlobals::AttentionGlobals(Context& ctx, int batch, int seq_len, const std::vector<Ranges>& ranges)
    : batch_(batch), seq_len_(seq_len) {
  if (batch <= 0 || seq_len <= 0) throw_usage("attention globals: empty shape {} × {}", batch, seq_len);
  if (ranges.size() != 1 && ranges.size() != size_t(batch))
    throw_usage("attention globals: {} range lists for a batch of {} (give 1 or {})", ranges.size(), batch, batch);
  const size_t n = size_t(batch) * seq_len;
  std::vector<uint8_t> mask(n, 0);
  std::vector<int32_t> list(n, 0), count(batch, 0);
  for (int b = 0; b < batch; ++b) {
    const Ranges& rs = ranges.size() == 1 ? ranges[0] : ranges[b];
    uint8_t* m = mask.data() + size_t(b) * seq_len;
    for (const auto& r : rs) {
      if (r.first < 0 || r.second < r.first)
        throw_usage("attention globals: example {} has invalid range [{}, {})", b, r.first, r.second);
      for (int i = r.first; i < std::min(r.second, seq_len); ++i) m[i] = 1;
    }
    int c = 0;
    for (int i = 0; i < seq_len; ++i)
      if (m[i]) list[size_t(b) * seq_len + c++] = i;
    count[b] = c;
  }
  // One upload: counts, list, mask.
  const size_t bytes_count = size_t(batch) * 4, bytes_list = n * 4;
  std::vector<uint8_t> packed(bytes_count + bytes_list + n);
  std::memcpy(packed.data(), count.data(), bytes_count);
  std::memcpy(packed.data() + bytes_count, list.data(), bytes_list);
  std::memcpy(packed.data() + bytes_count + bytes_list, mask.data(), n);
  buf_ = ctx.alloc(packed.size());
  ctx.upload(buf_.data(), packed.data(), packed.size());
  ctx.synchronize();  // `packed` is pageable host memory that goes away here
  auto* base = buf_.as<uint8_t>();
  count_ = reinterpret_cast<const int32_t*>(base);
  list_ = reinterpret_cast<const int32_t*>(base + bytes_count);
  mask_ = base + bytes_count + bytes_list;
  list_stride_ = seq_len;
}

void attention_forward(Context& ctx, const AttentionShape& s, const AttentionPattern& pat,
                       const AttentionForwardArgs& a) {
  const char* what = "attention_forward";
  AttnParams p = make_params(s, pat, a.globals, a.lengths, a.ld_qkv, what);
  if (!a.q || !a.k || !a.v || !a.out || !a.lse) throw_usage("{}: null tensor pointer", what);
  if (misaligned(a.q) || misaligned(a.k) || misaligned(a.v) || misaligned(a.out))
    throw_usage("{}: q, k, v and out must be 16-byte aligned", what);
  if (a.ld_out < (long long)s.heads * s.head_dim || a.ld_out % 8 != 0)
    throw_usage("{}: ld_out {} must be a multiple of 8 and at least {}", what, a.ld_out, s.heads * s.head_dim);
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out = a.out;
  p.ld_o = a.ld_out;
  p.lse = a.lse;
  const dim3 grid(ceil_div(s.seq_len, kRows), s.heads, s.batch);
  switch (s.head_dim) {
    case 32: launch(ctx, attention_fwd_kernel<32>, FwdSmem<32>::kBytes, grid, p, what); break;
    case 64: launch(ctx, attention_fwd_kernel<64>, FwdSmem<64>::kBytes, grid, p, what); break;
    default: launch(ctx, attention_fwd_kernel<128>, FwdSmem<128>::kBytes, grid, p, what); break;
  }
}

void attention_backward(Context& ctx, const AttentionShape& s, const AttentionPattern& pat,
                        const AttentionBackwardArgs& a) {
  const char* what = "attention_backward";
  AttnParams p = make_params(s, pat, a.globals, a.lengths, a.ld_qkv, what);
  if (!a.q || !a.k || !a.v || !a.out || !a.dout || !a.lse || !a.dq || !a.dk || !a.dv)
    throw_usage("{}: null tensor pointer", what);
  if (misaligned(a.q) || misaligned(a.k) || misaligned(a.v) || misaligned(a.dout) || misaligned(a.dq) ||
      misaligned(a.dk) || misaligned(a.dv))
    throw_usage("{}: q, k, v, dout, dq, dk and dv must be 16-byte aligned", what);
  if (a.ld_out < (long long)s.heads * s.head_dim || a.ld_out % 8 != 0)
    throw_usage("{}: ld_out {} must be a multiple of 8 and at least {}", what, a.ld_out, s.heads * s.head_dim);
  if (a.ld_dqkv < (long long)s.heads * s.head_dim || a.ld_dqkv % 8 != 0)
    throw_usage("{}: ld_dqkv {} must be a multiple of 8 and at least {}", what, a.ld_dqkv, s.heads * s.head_dim);
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out_in = a.out;
  p.dout = a.dout;
  p.ld_o = a.ld_out;
  p.lse = const_cast<float*>(a.lse);
  p.dq = a.dq;
  p.dk = a.dk;
  p.dv = a.dv;
  p.ld_d = a.ld_dqkv;
  p.accumulate = a.accumulate ? 1 : 0;
  const long long rows = (long long)s.batch * s.seq_len * s.heads;
  DeviceBuffer delta = ctx.alloc_n<float>(size_t(s.batch) * s.heads * s.seq_len);
  p.delta = delta.as<float>();
  const int warps_per_block = 8;
  attention_delta_kernel<<<unsigned(ceil_div_ll(rows, warps_per_block)), warps_per_block * 32, 0, ctx.stream()>>>(
      p, s.head_dim, rows);
  MDS_CUDA_CHECK_LAUNCH("attention_delta_kernel");
  const dim3 grid(ceil_div(s.seq_len, kRows), s.heads, s.batch);
  switch (s.head_dim) {
    case 32:
      launch(ctx, attention_dkv_kernel<32>, DkvSmem<32>::kBytes, grid, p, what);
      launch(ctx, attention_dq_kernel<32>, DqSmem<32>::kBytes, grid, p, what);
      break;
    case 64:
      launch(ctx, attention_dkv_kernel<64>, DkvSmem<64>::kBytes, grid, p, what);
      launch(ctx, attention_dq_kernel<64>, DqSmem<64>::kBytes, grid, p, what);
      break;
    default:
      launch(ctx, attention_dkv_kernel<128>, DkvSmem<128>::kBytes, grid, p, what);
      launch(ctx, attention_dq_kernel<128>, DqSmem<128>::kBytes, grid, p, what);
      break;
  }
}

}  // namespace mds::cuda
