// Shared-memory tiles for the flash-style kernels (attention, fused rounding
// cross-entropy): 64-row bf16 tiles gathered by a row-index list, and the WMMA
// fragment types (bf16 operands, fp32 accumulation) they feed.
#pragma once

#include <mma.h>

#include "kernels/common.cuh"

namespace mds::cuda::tile {

namespace wmma = nvcuda::wmma;

constexpr int kRows = 64;      // rows per tile (queries, keys or vocabulary entries)
constexpr int kThreads = 128;  // 4 warps, each owning 16 rows of a 64-row tile
constexpr int kLdP = kRows + 8;  // pitch of 64-wide bf16 tiles (P, dS)

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragAT = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBT = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr size_t round128(size_t x) { return (x + 127) / 128 * 128; }

// Pitches for a head (or embedding) width D: bf16 rows padded by 16 bytes,
// fp32 score rows wide enough to also stage a 16×D result.
template <int D>
struct Pitch {
  static constexpr int kLdH = D + 8;
  static constexpr int kLdS = (D > kRows ? D : kRows) + 4;
  static constexpr size_t kTileH = round128(size_t(kRows) * kLdH * 2);
  static constexpr size_t kTileS = round128(size_t(kRows) * kLdS * 4);
  static constexpr size_t kTileP = round128(size_t(kRows) * kLdP * 2);
};

// Copies 64 rows of width D from `base` (row j at base + j*ld) into a padded
// shared tile; rows whose index is negative become zeros. 16-byte moves.
template <int D>
__device__ __forceinline__ void load_rows(bf16* dst, const bf16* base, long long ld, const int* idx) {
  constexpr int V = D / 8;
  for (int v = threadIdx.x; v < kRows * V; v += kThreads) {
    const int r = v / V, c = v % V;
    const int j = idx[r];
    uint4 val = make_uint4(0u, 0u, 0u, 0u);
    if (j >= 0) val = *reinterpret_cast<const uint4*>(base + (long long)j * ld + c * 8);
    *reinterpret_cast<uint4*>(dst + r * Pitch<D>::kLdH + c * 8) = val;
  }
}

// C[16×16·N] (row-major in `out`, pitch ldo) = A[16×D] · Bᵀ where B's rows are
// 16·N rows of a padded tile: out[r][n] = Σ_d A[r][d] · B[n][d].
template <int D, int N>
__device__ __forceinline__ void rows_times_rowsT(const bf16* a, int lda, const bf16* b, int ldb, float* out, int ldo) {
#pragma unroll
  for (int n = 0; n < N; ++n) {
    FragC acc;
    wmma::fill_fragment(acc, 0.f);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      FragA fa;
      FragBT fb;
      wmma::load_matrix_sync(fa, a + kk * 16, lda);
      wmma::load_matrix_sync(fb, b + n * 16 * ldb + kk * 16, ldb);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, ldo, wmma::mem_row_major);
  }
}

// acc[n] += P[16×64] · B[64×D] (B a padded row tile), n over D/16 column blocks.
template <int D>
__device__ __forceinline__ void accumulate_p_times_rows(FragC (&acc)[D / 16], const bf16* p, int ldp, const bf16* b,
                                                        int ldb) {
#pragma unroll
  for (int kc = 0; kc < kRows / 16; ++kc) {
    FragA fa;
    wmma::load_matrix_sync(fa, p + kc * 16, ldp);
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      FragB fb;
      wmma::load_matrix_sync(fb, b + kc * 16 * ldb + n * 16, ldb);
      wmma::mma_sync(acc[n], fa, fb, acc[n]);
    }
  }
}

// Writes 16 rows × D of fp32 staging (pitch lds) as bf16 to global rows
// dst + row*ld for rows with row0 + r < nrows, 8 values per 16-byte store;
// with `accumulate` the existing values are added (in fp32) first.
template <int D>
__device__ __forceinline__ void store_rows_bf16(const float* stage, int lds, bf16* dst, long long ld, int row0,
                                                int nrows, int lane, bool accumulate) {
  constexpr int V = D / 8;
  for (int v = lane; v < 16 * V; v += 32) {
    const int r = v / V, c = v % V;
    if (row0 + r >= nrows) continue;
    uint4* out = reinterpret_cast<uint4*>(dst + (long long)(row0 + r) * ld + c * 8);
    alignas(16) bf16 pack[8];
    if (accumulate) *reinterpret_cast<uint4*>(pack) = *out;
#pragma unroll
    for (int e = 0; e < 8; ++e)
      pack[e] = __float2bfloat16(stage[r * lds + c * 8 + e] + (accumulate ? __bfloat162float(pack[e]) : 0.f));
    *out = *reinterpret_cast<const uint4*>(pack);
  }
}

}  // namespace mds::cuda::tile
