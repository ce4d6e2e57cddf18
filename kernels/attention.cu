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

// The global-row instantiations (GR = true) return before the band loops that
// follow in the same kernel body; nvcc reports those loops as unreachable there.
#pragma nv_diag_suppress 128

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
  // Global rows (queries of the forward and dQ, keys of dK/dV) as their own
  // problem: `gtiles` 64-row tiles of each example's global list, the partner
  // axis cut into `chunks` pieces of `chunk_len` positions, one block each;
  // partial results per (row, chunk) in fp32, merged by attention_combine_kernel.
  int gtiles, chunks, chunk_len;
  float* part_m;  // [B, H, gtiles*64, chunks] running max (forward)
  float* part_l;  // the same, row sums (forward)
  float* part_a;  // [B, H, gtiles*64, chunks, D]: forward O, dQ or dK (unscaled)
  float* part_b;  // the same for dV
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

// ---------------------------------------------------------------- mma.sync building blocks
//
// The scores never leave registers (FlashAttention-2's layout): each warp owns
// 16 rows, computes its 16 × 64 score tile with mma.sync m16n8k16 (bf16 in,
// fp32 accumulate), applies the mask and the softmax on the accumulator
// fragments, and feeds them back as the A operand of the next product (the
// accumulator layout of two adjacent n8 tiles is the A layout of one k16
// chunk). Operands come from the shared tiles through ldmatrix.
// Fragment of an m16n8 accumulator, per lane: g = lane / 4, t = lane % 4;
// c[0], c[1] at (row g, columns 2t, 2t+1), c[2], c[3] at (row g + 8, same).

__device__ __forceinline__ uint32_t smem_u32(const void* ptr) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(ptr));
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const bf16* ptr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(ptr)));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const bf16* ptr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(ptr)));
}
// c += a · b for one m16n8k16 tile.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// Two floats as a bf16 pair, the first in the low half (the lower column).
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// A fragments of the warp's 16 rows of a padded tile (x = its first row), all D columns.
template <int D>
__device__ __forceinline__ void load_a_rows(uint32_t (&a)[D / 16][4], const bf16* x, int ld) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int kc = 0; kc < D / 16; ++kc) ldsm_x4(a[kc], x + (lane & 15) * ld + kc * 16 + (lane >> 4) * 8);
}

// s[16 × 64] = A[16 × D] · Yᵀ, Y a padded 64-row tile: s[r][n] = Σ_d A[r][d] Y[n][d].
template <int D>
__device__ __forceinline__ void a_times_rows_t(float (&s)[8][4], const uint32_t (&a)[D / 16][4], const bf16* y,
                                               int ld) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int n = 0; n < 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
  for (int kc = 0; kc < D / 16; ++kc) {
#pragma unroll
    for (int np = 0; np < 4; ++np) {
      uint32_t bm[4];
      ldsm_x4(bm, y + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * ld + kc * 16 + ((lane >> 3) & 1) * 8);
      mma_bf16(s[2 * np], a[kc], bm[0], bm[1]);
      mma_bf16(s[2 * np + 1], a[kc], bm[2], bm[3]);
    }
  }
}

// acc[16 × D] += P[16 × 64] · Z, P in accumulator fragments (rounded to bf16
// here), Z a padded 64-row tile (rows = the k dimension).
template <int D>
__device__ __forceinline__ void p_times_rows(float (&acc)[D / 8][4], const float (&pf)[8][4], const bf16* z, int ld) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int kc = 0; kc < 4; ++kc) {
    const uint32_t a[4] = {pack_bf16(pf[2 * kc][0], pf[2 * kc][1]), pack_bf16(pf[2 * kc][2], pf[2 * kc][3]),
                           pack_bf16(pf[2 * kc + 1][0], pf[2 * kc + 1][1]),
                           pack_bf16(pf[2 * kc + 1][2], pf[2 * kc + 1][3])};
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      uint32_t bm[4];
      ldsm_x4_trans(bm, z + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + dp * 16 + (lane >> 4) * 8);
      mma_bf16(acc[2 * dp], a, bm[0], bm[1]);
      mma_bf16(acc[2 * dp + 1], a, bm[2], bm[3]);
    }
  }
}

// Writes the warp's 16 × D accumulator (times `mul`) as bf16 to global rows
// dst + r*ld for rows row0 + r < nrows; with `accumulate` adds the old values.
template <int D>
__device__ __forceinline__ void store_acc_bf16(const float (&acc)[D / 8][4], float mul0, float mul1, bf16* dst,
                                               long long ld, int row0, int nrows, bool accumulate,
                                               const bool (&skip)[2]) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = g + 8 * half;
    if (row0 + r >= nrows || skip[half]) continue;
    const float mul = half ? mul1 : mul0;
    bf16* row = dst + (long long)r * ld;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      float v0 = acc[n][2 * half] * mul, v1 = acc[n][2 * half + 1] * mul;
      __nv_bfloat162* out = reinterpret_cast<__nv_bfloat162*>(row + n * 8 + 2 * t4);
      if (accumulate) {
        const __nv_bfloat162 old = *out;
        v0 += __bfloat162float(old.x);
        v1 += __bfloat162float(old.y);
      }
      *out = __floats2bfloat162_rn(v0, v1);
    }
  }
}

// Writes the warp's 16 × D accumulator as the partial of chunk `chunk` of
// global-row tile rows (prow0 + r): part[((prow0 + r) * chunks + chunk) * D + col].
template <int D>
__device__ __forceinline__ void store_partial(const float (&acc)[D / 8][4], float* part, long long prow0, int chunks,
                                              int chunk) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float* row = part + ((prow0 + g + 8 * half) * chunks + chunk) * D;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<float2*>(row + n * 8 + 2 * t4) = make_float2(acc[n][2 * half], acc[n][2 * half + 1]);
  }
}

// Row indices of a global-row tile: entries gt*64 .. of example b's global
// list (-1 past its count or outside [0, bound)). Returns through shared memory.
__device__ __forceinline__ void fill_global_rows(int* idx, uint8_t* glob, const AttnParams& p, int b, int gt,
                                                 int bound) {
  if (threadIdx.x < kRows) {
    const int n = gt * kRows + threadIdx.x;
    int i = n < p.gcount[b] ? p.glist[b * p.glist_stride + n] : -1;
    if (i >= bound) i = -1;
    idx[threadIdx.x] = i;
    glob[threadIdx.x] = i >= 0 ? 1 : 0;
  }
}

// ---------------------------------------------------------------- forward

template <int D>
struct FwdSmem {
  using P = Pitch<D>;
  static constexpr size_t kQ = 0, kK = P::kTileH, kV = 2 * P::kTileH;
  static constexpr size_t kIdx = 3 * P::kTileH;  // qidx[64], kidx[64], qg[64], kg[64]
  static constexpr size_t kBytes = kIdx + 2 * 64 * 4 + 2 * 64;
};

// GR = false: the band kernel, one block per 64-query tile; global queries are
// computed like the others here (their result is overwritten by GR = true).
// GR = true: one block per (global-query tile, key chunk) writing partials.
template <int D, bool GR>
__global__ void __launch_bounds__(kThreads) attention_fwd_kernel(const __grid_constant__ AttnParams p) {
  using P = Pitch<D>;
  using S = FwdSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sQ = reinterpret_cast<bf16*>(smem + S::kQ);
  bf16* sK = reinterpret_cast<bf16*>(smem + S::kK);
  bf16* sV = reinterpret_cast<bf16*>(smem + S::kV);
  int* sQidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sKidx = sQidx + kRows;
  uint8_t* sQg = reinterpret_cast<uint8_t*>(sKidx + kRows);
  uint8_t* sKg = sQg + kRows;

  const int h = blockIdx.y;
  const int b = GR ? blockIdx.z / p.gtiles : blockIdx.z, gt = GR ? blockIdx.z % p.gtiles : 0;
  const int q0 = GR ? 0 : blockIdx.x * kRows, chunk = GR ? blockIdx.x : 0;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int L = p.L, len = example_length(p, b);
  const long long tok0 = (long long)b * L;
  const uint8_t* gmask_b = p.gmask ? p.gmask + tok0 : nullptr;
  const bf16* qb = p.q + tok0 * p.ld_qkv + h * D;
  const bf16* kb = p.k + tok0 * p.ld_qkv + h * D;
  const bf16* vb = p.v + tok0 * p.ld_qkv + h * D;

  if (GR) {
    fill_global_rows(sQidx, sQg, p, b, gt, L);
  } else if (tid < kRows) {
    const int i = q0 + tid;
    sQidx[tid] = i < L ? i : -1;
    sQg[tid] = (i < L && gmask_b) ? gmask_b[i] : 0;
  }
  __syncthreads();
  if (GR && sQidx[0] < 0) return;  // past the example's global count (uniform: shared value)
  load_rows<D>(sQ, qb, p.ld_qkv, sQidx);
  __syncthreads();
  uint32_t qa[D / 16][4];
  load_a_rows<D>(qa, sQ + warp * 16 * P::kLdH, P::kLdH);

  const int span = p.span[h], dil = p.dil[h];
  int kb0, kb1;
  const bool global_pass = key_band(false, q0, L, len, span, kb0, kb1);
  const int i_row[2] = {sQidx[warp * 16 + g], sQidx[warp * 16 + g + 8]};
  const bool g_row[2] = {sQg[warp * 16 + g] != 0, sQg[warp * 16 + g + 8] != 0};

  // Running max and (this lane's partial) sum of rows g and g + 8.
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;

  auto process_tile = [&](bool full) {
    __syncthreads();  // indices visible
    load_rows<D>(sK, kb, p.ld_qkv, sKidx);
    load_rows<D>(sV, vb, p.ld_qkv, sKidx);
    __syncthreads();
    float s[8][4];
    a_times_rows_t<D>(s, qa, sK, P::kLdH);
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = n * 8 + 2 * t4 + (e & 1), hr = e >> 1;
        const bool ok = full || allowed(i_row[hr], sKidx[c], g_row[hr], sKg[c], span, dil);
        s[n][e] = ok ? s[n][e] * p.scale : -INFINITY;
        mx[hr] = fmaxf(mx[hr], s[n][e]);
      }
    }
    float alpha[2];
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 1));
      mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 2));
      const float m_new = fmaxf(m[hr], mx[hr]);
      alpha[hr] = m_new == -INFINITY ? 1.f : __expf(m[hr] - m_new);  // 0 when m was -inf
      m[hr] = m_new;
    }
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hr = e >> 1;
        const float v = m[hr] == -INFINITY ? 0.f : __expf(s[n][e] - m[hr]);
        s[n][e] = v;
        rs[hr] += v;
      }
    }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) l[hr] = l[hr] * alpha[hr] + rs[hr];
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= alpha[0], o[n][1] *= alpha[0];
      o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    }
    p_times_rows<D>(o, s, sV, P::kLdH);
  };

  if (GR) {
    // Every valid key of the chunk: a global query sees them all.
    const int t0 = chunk * p.chunk_len, t1 = min(len, t0 + p.chunk_len);
    for (int kt = t0; kt < t1; kt += kRows) {
      __syncthreads();
      fill_band_idx(sKidx, sKg, kt, len, gmask_b);
      process_tile(kt + kRows <= len);
    }
    const long long prow0 = ((long long)(b * p.H + h) * p.gtiles + gt) * kRows + warp * 16;
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 1);
      l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 2);
      if (t4 == 0) {
        const long long at = (prow0 + g + 8 * hr) * p.chunks + chunk;
        p.part_m[at] = m[hr];
        p.part_l[at] = l[hr];
      }
    }
    store_partial<D>(o, p.part_a, prow0, p.chunks, chunk);
    return;
  }
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

  float inv[2];
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 1);
    l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 2);
    inv[hr] = l[hr] > 0.f ? 1.f / l[hr] : 0.f;
    // A query with no visible key (a padding query out of reach of every valid key) outputs 0, lse = -inf.
    const int i = q0 + warp * 16 + g + 8 * hr;
    if (t4 == 0 && i < L) p.lse[((long long)b * p.H + h) * L + i] = l[hr] > 0.f ? m[hr] + logf(l[hr]) : -INFINITY;
  }
  const int row0 = q0 + warp * 16;
  const bool keep[2] = {false, false};  // global rows are overwritten by the merged result
  store_acc_bf16<D>(o, inv[0], inv[1], p.out + (tok0 + row0) * p.ld_o + h * D, p.ld_o, row0, L, false, keep);
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
  static constexpr size_t kIdx = 4 * P::kTileH;  // qidx, kidx (int), lse, delta (float), qg, kg
  static constexpr size_t kBytes = kIdx + 4 * 64 * 4 + 2 * 64;
};

// GR as in the forward: the band kernel leaves global query rows to GR = true.
template <int D, bool GR>
__global__ void __launch_bounds__(kThreads) attention_dq_kernel(const __grid_constant__ AttnParams p) {
  using P = Pitch<D>;
  using S = DqSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sQ = reinterpret_cast<bf16*>(smem + S::kQ);
  bf16* sDO = reinterpret_cast<bf16*>(smem + S::kDO);
  bf16* sK = reinterpret_cast<bf16*>(smem + S::kK);
  bf16* sV = reinterpret_cast<bf16*>(smem + S::kV);
  int* sQidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sKidx = sQidx + kRows;
  float* sLse = reinterpret_cast<float*>(sKidx + kRows);
  float* sDelta = sLse + kRows;
  uint8_t* sQg = reinterpret_cast<uint8_t*>(sDelta + kRows);
  uint8_t* sKg = sQg + kRows;

  const int h = blockIdx.y;
  const int b = GR ? blockIdx.z / p.gtiles : blockIdx.z, gt = GR ? blockIdx.z % p.gtiles : 0;
  const int q0 = GR ? 0 : blockIdx.x * kRows, chunk = GR ? blockIdx.x : 0;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int L = p.L, len = example_length(p, b);
  const long long tok0 = (long long)b * L;
  const long long row_bh = ((long long)b * p.H + h) * L;
  const uint8_t* gmask_b = p.gmask ? p.gmask + tok0 : nullptr;
  const bf16* kb = p.k + tok0 * p.ld_qkv + h * D;
  const bf16* vb = p.v + tok0 * p.ld_qkv + h * D;

  if (GR) fill_global_rows(sQidx, sQg, p, b, gt, L);
  __syncthreads();
  if (tid < kRows) {
    const int i = GR ? sQidx[tid] : q0 + tid;
    const bool in = i >= 0 && i < L;
    if (!GR) {
      sQidx[tid] = in ? i : -1;
      sQg[tid] = (in && gmask_b) ? gmask_b[i] : 0;
    }
    sLse[tid] = in ? p.lse[row_bh + i] : 0.f;
    sDelta[tid] = in ? p.delta[row_bh + i] : 0.f;
  }
  __syncthreads();
  if (GR && sQidx[0] < 0) return;
  load_rows<D>(sQ, p.q + tok0 * p.ld_qkv + h * D, p.ld_qkv, sQidx);
  load_rows<D>(sDO, p.dout + tok0 * p.ld_o + h * D, p.ld_o, sQidx);
  __syncthreads();
  uint32_t qa[D / 16][4], da[D / 16][4];
  load_a_rows<D>(qa, sQ + warp * 16 * P::kLdH, P::kLdH);
  load_a_rows<D>(da, sDO + warp * 16 * P::kLdH, P::kLdH);

  const int span = p.span[h], dil = p.dil[h];
  int kb0, kb1;
  const bool global_pass = key_band(false, q0, L, len, span, kb0, kb1);
  const int rl[2] = {warp * 16 + g, warp * 16 + g + 8};
  const int i_row[2] = {sQidx[rl[0]], sQidx[rl[1]]};
  const bool g_row[2] = {sQg[rl[0]] != 0, sQg[rl[1]] != 0};
  const float lse_row[2] = {sLse[rl[0]], sLse[rl[1]]}, delta_row[2] = {sDelta[rl[0]], sDelta[rl[1]]};

  float dq[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;

  auto process_tile = [&](bool full) {
    __syncthreads();
    load_rows<D>(sK, kb, p.ld_qkv, sKidx);
    load_rows<D>(sV, vb, p.ld_qkv, sKidx);
    __syncthreads();
    float s[8][4], dp[8][4];
    a_times_rows_t<D>(s, qa, sK, P::kLdH);
    a_times_rows_t<D>(dp, da, sV, P::kLdH);
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = n * 8 + 2 * t4 + (e & 1), hr = e >> 1;
        float ds = 0.f;
        if (full || allowed(i_row[hr], sKidx[c], g_row[hr], sKg[c], span, dil)) {
          const float pr = __expf(s[n][e] * p.scale - lse_row[hr]);
          ds = pr * (dp[n][e] - delta_row[hr]);
        }
        s[n][e] = ds;
      }
    }
    p_times_rows<D>(dq, s, sK, P::kLdH);
  };

  if (GR) {
    const int t0 = chunk * p.chunk_len, t1 = min(len, t0 + p.chunk_len);
    for (int kt = t0; kt < t1; kt += kRows) {
      __syncthreads();
      fill_band_idx(sKidx, sKg, kt, len, gmask_b);
      process_tile(kt + kRows <= len);
    }
    store_partial<D>(dq, p.part_a, ((long long)(b * p.H + h) * p.gtiles + gt) * kRows + warp * 16, p.chunks,
                     chunk);
    return;
  }
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
  const int row0 = q0 + warp * 16;
  // Global query rows are written (or added) by the merge of their own problem.
  const bool skip[2] = {p.glist != nullptr && g_row[0], p.glist != nullptr && g_row[1]};
  store_acc_bf16<D>(dq, p.scale, p.scale, p.dq + (tok0 + row0) * p.ld_d + h * D, p.ld_d, row0, L, p.accumulate,
                    skip);
}

template <int D>
struct DkvSmem {
  using P = Pitch<D>;
  static constexpr size_t kK = 0, kV = P::kTileH, kQ = 2 * P::kTileH, kDO = 3 * P::kTileH;
  static constexpr size_t kIdx = 4 * P::kTileH;
  static constexpr size_t kBytes = kIdx + 4 * 64 * 4 + 2 * 64;
};

// GR = false: one block per 64-key tile; global key rows are left to GR =
// true, one block per (global-key tile, query chunk) writing partials.
template <int D, bool GR>
__global__ void __launch_bounds__(kThreads) attention_dkv_kernel(const __grid_constant__ AttnParams p) {
  using P = Pitch<D>;
  using S = DkvSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sK = reinterpret_cast<bf16*>(smem + S::kK);
  bf16* sV = reinterpret_cast<bf16*>(smem + S::kV);
  bf16* sQ = reinterpret_cast<bf16*>(smem + S::kQ);
  bf16* sDO = reinterpret_cast<bf16*>(smem + S::kDO);
  int* sKidx = reinterpret_cast<int*>(smem + S::kIdx);
  int* sQidx = sKidx + kRows;
  float* sLse = reinterpret_cast<float*>(sQidx + kRows);
  float* sDelta = sLse + kRows;
  uint8_t* sKg = reinterpret_cast<uint8_t*>(sDelta + kRows);
  uint8_t* sQg = sKg + kRows;

  const int h = blockIdx.y;
  const int b = GR ? blockIdx.z / p.gtiles : blockIdx.z, gt = GR ? blockIdx.z % p.gtiles : 0;
  const int k0 = GR ? 0 : blockIdx.x * kRows, chunk = GR ? blockIdx.x : 0;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int L = p.L, len = example_length(p, b);
  const long long tok0 = (long long)b * L;
  const long long row_bh = ((long long)b * p.H + h) * L;
  const uint8_t* gmask_b = p.gmask ? p.gmask + tok0 : nullptr;
  const bf16* qb = p.q + tok0 * p.ld_qkv + h * D;
  const bf16* dob = p.dout + tok0 * p.ld_o + h * D;

  if (GR)
    fill_global_rows(sKidx, sKg, p, b, gt, len);  // global keys of the valid range
  else
    fill_band_idx(sKidx, sKg, k0, len, gmask_b);
  __syncthreads();
  if (GR && sKidx[0] < 0) return;
  load_rows<D>(sK, p.k + tok0 * p.ld_qkv + h * D, p.ld_qkv, sKidx);
  load_rows<D>(sV, p.v + tok0 * p.ld_qkv + h * D, p.ld_qkv, sKidx);
  __syncthreads();
  uint32_t ka[D / 16][4], va[D / 16][4];
  load_a_rows<D>(ka, sK + warp * 16 * P::kLdH, P::kLdH);
  load_a_rows<D>(va, sV + warp * 16 * P::kLdH, P::kLdH);
  const int j_row[2] = {sKidx[warp * 16 + g], sKidx[warp * 16 + g + 8]};
  const bool g_row[2] = {sKg[warp * 16 + g] != 0, sKg[warp * 16 + g + 8] != 0};

  const int span = p.span[h], dil = p.dil[h];
  // Queries that can see this tile's keys: all of them if a key is global, else
  // the window band (any query index < L, padding queries included) and the
  // global queries outside it.
  const bool live = k0 < len;
  const int kend = min(k0 + kRows, len);
  int qb0 = max(0, k0 - span);
  int qb1 = min(L, kend + span);
  if (!live) qb0 = qb1 = 0;
  const bool global_pass = live && !(qb0 == 0 && qb1 == L);

  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = 0.f;
    dv[n][0] = dv[n][1] = dv[n][2] = dv[n][3] = 0.f;
  }

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
    float st[8][4], dpt[8][4];
    a_times_rows_t<D>(st, ka, sQ, P::kLdH);
    a_times_rows_t<D>(dpt, va, sDO, P::kLdH);
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = n * 8 + 2 * t4 + (e & 1), hr = e >> 1;
        float pr = 0.f, ds = 0.f;
        if (full || allowed(sQidx[c], j_row[hr], sQg[c], g_row[hr], span, dil)) {
          pr = __expf(st[n][e] * p.scale - sLse[c]);
          ds = pr * (dpt[n][e] - sDelta[c]);
        }
        st[n][e] = pr;
        dpt[n][e] = ds;
      }
    }
    p_times_rows<D>(dv, st, sDO, P::kLdH);
    p_times_rows<D>(dk, dpt, sQ, P::kLdH);
  };

  if (GR) {
    // Every query of the chunk (padding queries included, as in the band): a
    // global key is seen by all of them.
    const int t0 = chunk * p.chunk_len, t1 = min(L, t0 + p.chunk_len);
    for (int qt = t0; qt < t1; qt += kRows) {
      __syncthreads();
      fill_band_idx(sQidx, sQg, qt, L, gmask_b);
      __syncthreads();
      process_tile(qt + kRows <= L);
    }
    const long long prow0 = ((long long)(b * p.H + h) * p.gtiles + gt) * kRows + warp * 16;
    store_partial<D>(dk, p.part_a, prow0, p.chunks, chunk);
    store_partial<D>(dv, p.part_b, prow0, p.chunks, chunk);
    return;
  }
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
  const int row0 = k0 + warp * 16;
  const bool skip[2] = {p.glist != nullptr && g_row[0], p.glist != nullptr && g_row[1]};
  store_acc_bf16<D>(dk, p.scale, p.scale, p.dk + (tok0 + row0) * p.ld_d + h * D, p.ld_d, row0, L, p.accumulate,
                    skip);
  store_acc_bf16<D>(dv, 1.f, 1.f, p.dv + (tok0 + row0) * p.ld_d + h * D, p.ld_d, row0, L, p.accumulate, skip);
}

// Merges the chunk partials of the global rows and writes each row where the
// band kernel left it: mode 0 the forward's out and lse, 1 dQ, 2 dK and dV.
// One warp per (example, head, global-list entry); partials are added in
// chunk order, so the result is deterministic.
__global__ void attention_combine_kernel(const __grid_constant__ AttnParams p, int mode, int B, int D) {
  const long long w = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  const int per_bh = p.gtiles * kRows;
  if (w >= (long long)B * p.H * per_bh) return;
  const int n = int(w % per_bh);
  const long long bh = w / per_bh;
  const int h = int(bh % p.H), b = int(bh / p.H);
  if (n >= p.gcount[b]) return;
  const int i = p.glist[b * p.glist_stride + n];
  if (i < 0 || i >= (mode == 2 ? example_length(p, b) : p.L)) return;
  const long long tok = (long long)b * p.L + i;
  const int C = p.chunks;
  const float* pa = p.part_a + w * C * D;
  if (mode == 0) {
    const float* pm = p.part_m + w * C;
    const float* pl = p.part_l + w * C;
    float M = -INFINITY;
    for (int c = 0; c < C; ++c) M = fmaxf(M, pm[c]);
    float total = 0.f;
    if (M != -INFINITY)
      for (int c = 0; c < C; ++c) total += pm[c] == -INFINITY ? 0.f : pl[c] * __expf(pm[c] - M);
    const float inv = total > 0.f ? 1.f / total : 0.f;
    for (int d = lane; d < D; d += 32) {
      float acc = 0.f;
      if (M != -INFINITY)
        for (int c = 0; c < C; ++c)
          if (pm[c] != -INFINITY) acc += pa[(long long)c * D + d] * __expf(pm[c] - M);
      p.out[tok * p.ld_o + (long long)h * D + d] = __float2bfloat16(acc * inv);
    }
    if (lane == 0) p.lse[((long long)b * p.H + h) * p.L + i] = total > 0.f ? M + logf(total) : -INFINITY;
    return;
  }
  for (int part = 0; part < (mode == 2 ? 2 : 1); ++part) {
    const float* src = part == 0 ? pa : p.part_b + w * C * D;
    bf16* dst = (mode == 1 ? p.dq : part == 0 ? p.dk : p.dv) + tok * p.ld_d + (long long)h * D;
    const float mul = part == 0 ? p.scale : 1.f;  // dQ and dK carry the score scale, dV not
    for (int d = lane; d < D; d += 32) {
      float acc = 0.f;
      for (int c = 0; c < C; ++c) acc += src[(long long)c * D + d];
      acc *= mul;
      if (p.accumulate) acc += __bfloat162float(dst[d]);
      dst[d] = __float2bfloat16(acc);
    }
  }
}

// ---------------------------------------------------------------- host side

// Partner positions per block of the global-row kernels: long enough to
// amortise a block, short enough that a long sequence spreads over the SMs
// (L = 65,536 gives 64 blocks per head and global tile).
constexpr int kGlobalChunk = 1024;

// Scratch of the global-row kernels, sized in AttnParams; forward needs m and
// l, dK/dV a second accumulator.
struct GlobalRowScratch {
  DeviceBuffer m, l, a, b;
};

bool has_global_rows(const AttentionGlobals* g) { return g && g->max_count() > 0; }

GlobalRowScratch prepare_global_rows(Context& ctx, AttnParams& p, const AttentionShape& s, const AttentionGlobals* g,
                                     bool forward, bool second, const char* what) {
  GlobalRowScratch out;
  p.gtiles = ceil_div(std::min(g->max_count(), s.seq_len), kRows);
  p.chunk_len = kGlobalChunk;
  p.chunks = ceil_div(s.seq_len, kGlobalChunk);
  if ((long long)s.batch * p.gtiles > 65535)
    throw_usage("{}: batch {} × {} global-row tiles exceeds the grid's 65,535", what, s.batch, p.gtiles);
  const size_t rows = size_t(s.batch) * s.heads * p.gtiles * kRows * p.chunks;
  out.a = ctx.alloc_n<float>(rows * s.head_dim);
  p.part_a = out.a.as<float>();
  if (second) {
    out.b = ctx.alloc_n<float>(rows * s.head_dim);
    p.part_b = out.b.as<float>();
  }
  if (forward) {
    out.m = ctx.alloc_n<float>(rows);
    out.l = ctx.alloc_n<float>(rows);
    p.part_m = out.m.as<float>();
    p.part_l = out.l.as<float>();
  }
  return out;
}

void launch_combine(Context& ctx, const AttnParams& p, int mode, const AttentionShape& s) {
  const long long warps = (long long)s.batch * s.heads * p.gtiles * kRows;
  attention_combine_kernel<<<unsigned(ceil_div_ll(warps, 8)), 256, 0, ctx.stream()>>>(p, mode, s.batch, s.head_dim);
  MDS_CUDA_CHECK_LAUNCH("attention_combine_kernel");
}

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
    max_count_ = std::max(max_count_, c);
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
    case 32: launch(ctx, attention_fwd_kernel<32, false>, FwdSmem<32>::kBytes, grid, p, what); break;
    case 64: launch(ctx, attention_fwd_kernel<64, false>, FwdSmem<64>::kBytes, grid, p, what); break;
    default: launch(ctx, attention_fwd_kernel<128, false>, FwdSmem<128>::kBytes, grid, p, what); break;
  }
  if (!has_global_rows(a.globals)) return;
  GlobalRowScratch scratch = prepare_global_rows(ctx, p, s, a.globals, true, false, what);
  const dim3 ggrid(p.chunks, s.heads, s.batch * p.gtiles);
  switch (s.head_dim) {
    case 32: launch(ctx, attention_fwd_kernel<32, true>, FwdSmem<32>::kBytes, ggrid, p, what); break;
    case 64: launch(ctx, attention_fwd_kernel<64, true>, FwdSmem<64>::kBytes, ggrid, p, what); break;
    default: launch(ctx, attention_fwd_kernel<128, true>, FwdSmem<128>::kBytes, ggrid, p, what); break;
  }
  launch_combine(ctx, p, 0, s);
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
      launch(ctx, attention_dkv_kernel<32, false>, DkvSmem<32>::kBytes, grid, p, what);
      launch(ctx, attention_dq_kernel<32, false>, DqSmem<32>::kBytes, grid, p, what);
      break;
    case 64:
      launch(ctx, attention_dkv_kernel<64, false>, DkvSmem<64>::kBytes, grid, p, what);
      launch(ctx, attention_dq_kernel<64, false>, DqSmem<64>::kBytes, grid, p, what);
      break;
    default:
      launch(ctx, attention_dkv_kernel<128, false>, DkvSmem<128>::kBytes, grid, p, what);
      launch(ctx, attention_dq_kernel<128, false>, DqSmem<128>::kBytes, grid, p, what);
      break;
  }
  if (!has_global_rows(a.globals)) return;
  // Global keys (dK, dV) and global queries (dQ) over every partner, in chunks.
  GlobalRowScratch scratch = prepare_global_rows(ctx, p, s, a.globals, false, true, what);
  const dim3 ggrid(p.chunks, s.heads, s.batch * p.gtiles);
  switch (s.head_dim) {
    case 32: launch(ctx, attention_dkv_kernel<32, true>, DkvSmem<32>::kBytes, ggrid, p, what); break;
    case 64: launch(ctx, attention_dkv_kernel<64, true>, DkvSmem<64>::kBytes, ggrid, p, what); break;
    default: launch(ctx, attention_dkv_kernel<128, true>, DkvSmem<128>::kBytes, ggrid, p, what); break;
  }
  launch_combine(ctx, p, 2, s);
  switch (s.head_dim) {
    case 32: launch(ctx, attention_dq_kernel<32, true>, DqSmem<32>::kBytes, ggrid, p, what); break;
    case 64: launch(ctx, attention_dq_kernel<64, true>, DqSmem<64>::kBytes, ggrid, p, what); break;
    default: launch(ctx, attention_dq_kernel<128, true>, DqSmem<128>::kBytes, ggrid, p, what); break;
  }
  launch_combine(ctx, p, 1, s);
}

}  // namespace mds::cuda
