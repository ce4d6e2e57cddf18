// MoE routing, dispatch and permutation kernels (see moe.h).
//
// The counting sort is stable and deterministic: slots are taken in the order
// a = s·T + t (first choices first), cut into chunks of 1024; each chunk ranks
// its slots per expert with warp match masks and per-warp histograms, one
// small kernel scans the chunk histograms per expert, and a last pass places
// every slot. Reductions run in fixed orders, so results do not depend on
// scheduling.
#include "kernels/moe.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

constexpr int kMaxExperts = 64;
constexpr int kChunk = 1024;  // slots per counting-sort chunk (one block)
constexpr int kWarpsRow = 8;  // tokens per block in warp-per-token kernels

// ---------------------------------------------------------------- router

struct Best {
  float v;
  int i;
};
__device__ __forceinline__ Best better(Best a, Best b) { return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a; }
__device__ __forceinline__ Best warp_best(Best x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Best y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.i, o)};
    x = better(x, y);
  }
  return x;
}

__global__ void route_kernel(const float* logits, const uint8_t* mask, int T, int E, int k, int renorm, float* probs,
                             float* lse, int32_t* expert, float* gate) {
  const int t = blockIdx.x * kWarpsRow + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (t >= T) return;
  const float* x = logits + (long long)t * E;
  const int e0 = lane, e1 = lane + 32;
  const float x0 = e0 < E ? x[e0] : -INFINITY, x1 = e1 < E ? x[e1] : -INFINITY;
  const float mx = warp_max(fmaxf(x0, x1));
  const float s = warp_sum(__expf(x0 - mx) + __expf(x1 - mx));
  const float z = mx + logf(s);
  const float p0 = __expf(x0 - z), p1 = __expf(x1 - z);
  if (e0 < E) probs[(long long)t * E + e0] = p0;
  if (e1 < E) probs[(long long)t * E + e1] = p1;
  if (lane == 0) lse[t] = z;
  if (mask && !mask[t]) {
    if (lane < k) {
      expert[(long long)t * k + lane] = -1;
      gate[(long long)t * k + lane] = 0.f;
    }
    return;
  }
  // First choice by logit, ties to the lower index; the second excludes it.
  const Best b1 = warp_best(better(Best{x0, e0 < E ? e0 : 1 << 30}, Best{x1, e1 < E ? e1 : 1 << 30}));
  const float pa = __shfl_sync(0xffffffffu, b1.i == e0 ? p0 : p1, b1.i & 31);
  if (k == 1) {
    if (lane == 0) {
      expert[t] = b1.i;
      gate[t] = pa;
    }
    return;
  }
  const Best c0{e0 == b1.i ? -INFINITY : x0, e0 < E && e0 != b1.i ? e0 : 1 << 30};
  const Best c1{e1 == b1.i ? -INFINITY : x1, e1 < E && e1 != b1.i ? e1 : 1 << 30};
  const Best b2 = warp_best(better(c0, c1));
  const float pb = __shfl_sync(0xffffffffu, b2.i == e0 ? p0 : p1, b2.i & 31);
  if (lane == 0) {
    expert[(long long)t * 2] = b1.i;
    expert[(long long)t * 2 + 1] = b2.i;
    const float norm = renorm ? pa + pb : 1.f;
    gate[(long long)t * 2] = pa / norm;
    gate[(long long)t * 2 + 1] = pb / norm;
  }
}

// ---------------------------------------------------------------- counting sort

__device__ __forceinline__ int slot_expert(const int32_t* expert, int a, int T, int k) {
  const int s = a / T, t = a - s * T;
  return expert[(long long)t * k + s];
}

__global__ void __launch_bounds__(kChunk) dispatch_count_kernel(const int32_t* expert, int T, int k, int E,
                                                                int32_t* local_rank, int32_t* chunk_counts) {
  __shared__ int hist[kChunk / 32][kMaxExperts];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int i = threadIdx.x; i < (kChunk / 32) * kMaxExperts; i += kChunk) (&hist[0][0])[i] = 0;
  __syncthreads();
  const int A = T * k;
  const int a = blockIdx.x * kChunk + threadIdx.x;
  const int e = a < A ? slot_expert(expert, a, T, k) : -1;
  const unsigned peers = __match_any_sync(0xffffffffu, e);
  const int rank_in_warp = __popc(peers & ((1u << lane) - 1u));
  if (e >= 0 && rank_in_warp == 0) hist[warp][e] = __popc(peers);
  __syncthreads();
  if (e >= 0) {
    int r = rank_in_warp;
    for (int w = 0; w < warp; ++w) r += hist[w][e];
    local_rank[a] = r;
  }
  if (threadIdx.x < E) {
    int c = 0;
    for (int w = 0; w < kChunk / 32; ++w) c += hist[w][threadIdx.x];
    chunk_counts[(long long)blockIdx.x * E + threadIdx.x] = c;
  }
}

__global__ void dispatch_scan_kernel(const int32_t* chunk_counts, int chunks, int E, int capacity,
                                     int32_t* chunk_base, int32_t* counts, int32_t* offsets, int32_t* tile_offsets) {
  const int e = threadIdx.x;
  if (e < E) {
    int run = 0;
    for (int c = 0; c < chunks; ++c) {
      chunk_base[(long long)c * E + e] = run;
      run += chunk_counts[(long long)c * E + e];
    }
    counts[e] = run;
  }
  __syncthreads();
  if (e == 0) {
    int off = 0, toff = 0;
    for (int x = 0; x < E; ++x) {
      offsets[x] = off;
      tile_offsets[x] = toff;
      const int kept = min(counts[x], capacity);
      off += kept;
      toff += (kept + 63) / 64;
    }
    offsets[E] = off;
    tile_offsets[E] = toff;
  }
}

__global__ void dispatch_place_kernel(const int32_t* expert, int T, int k, int E, int capacity,
                                      const int32_t* local_rank, const int32_t* chunk_base, const int32_t* offsets,
                                      int32_t* position, int32_t* row_slot) {
  const int A = T * k;
  const int a = blockIdx.x * blockDim.x + threadIdx.x;
  if (a >= A) return;
  const int s = a / T, t = a - s * T;
  const long long slot = (long long)t * k + s;
  const int e = expert[slot];
  if (e < 0) {
    position[slot] = -1;
    return;
  }
  const int rank = chunk_base[(long long)(a / kChunk) * E + e] + local_rank[a];
  if (rank >= capacity) {
    position[slot] = -1;
    return;
  }
  const int row = offsets[e] + rank;
  position[slot] = row;
  row_slot[row] = int(slot);
}

// ---------------------------------------------------------------- auxiliary losses

// Block e < E: Σ_t P[t, e] and #(first choice = e) over valid tokens; block E: Σ lse², #valid.
__global__ void aux_partial_kernel(const float* probs, const float* lse, const int32_t* expert, int T, int E, int k,
                                   float* stats) {
  __shared__ float scratch[32];
  const int e = blockIdx.x;
  float a = 0.f, b = 0.f;
  for (int t = threadIdx.x; t < T; t += blockDim.x) {
    const int first = expert[(long long)t * k];
    if (first < 0) continue;
    if (e < E) {
      a += probs[(long long)t * E + e];
      b += first == e ? 1.f : 0.f;
    } else {
      a += lse[t] * lse[t];
      b += 1.f;
    }
  }
  a = block_sum(a, scratch);
  b = block_sum(b, scratch);
  if (threadIdx.x == 0) {
    if (e < E) {
      stats[e] = b;      // count, normalised in aux_finish_kernel
      stats[E + e] = a;  // sum
    } else {
      stats[2 * E + 3] = a;
      stats[2 * E + 2] = b;
    }
  }
}

__global__ void aux_finish_kernel(float* stats, int E, float balance_coef, float z_coef) {
  if (threadIdx.x != 0) return;
  const float n = stats[2 * E + 2];
  const float inv = n > 0.f ? 1.f / n : 0.f;
  float dot = 0.f;
  for (int e = 0; e < E; ++e) {
    stats[e] *= inv;
    stats[E + e] *= inv;
    dot += stats[e] * stats[E + e];
  }
  stats[2 * E] = balance_coef * E * dot;
  stats[2 * E + 1] = z_coef * stats[2 * E + 3] * inv;
}

__global__ void route_backward_kernel(const float* probs, const float* lse, const int32_t* expert, const float* gate,
                                      const float* dgate, const float* stats, int T, int E, int k, int renorm,
                                      float balance_weight, float z_weight, float* dlogits) {
  const int t = blockIdx.x * kWarpsRow + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (t >= T) return;
  const int e0 = lane, e1 = lane + 32;
  float* out = dlogits + (long long)t * E;
  if (expert[(long long)t * k] < 0) {
    if (e0 < E) out[e0] = 0.f;
    if (e1 < E) out[e1] = 0.f;
    return;
  }
  const float* p = probs + (long long)t * E;
  const float p0 = e0 < E ? p[e0] : 0.f, p1 = e1 < E ? p[e1] : 0.f;
  float dp0 = 0.f, dp1 = 0.f;
  if (k == 2 && renorm) {
    const int a = expert[(long long)t * 2], b = expert[(long long)t * 2 + 1];
    const float ga = gate[(long long)t * 2], gb = gate[(long long)t * 2 + 1];
    const float da = dgate[(long long)t * 2], db = dgate[(long long)t * 2 + 1];
    const float sum = p[a] + p[b];
    const float common = da * ga + db * gb;  // g_s = p_s / (p_a + p_b)
    const float ca = (da - common) / sum, cb = (db - common) / sum;
    if (a == e0) dp0 += ca;
    if (a == e1) dp1 += ca;
    if (b == e0) dp0 += cb;
    if (b == e1) dp1 += cb;
  } else {
    for (int s = 0; s < k; ++s) {
      const int a = expert[(long long)t * k + s];
      const float da = dgate[(long long)t * k + s];
      if (a == e0) dp0 += da;
      if (a == e1) dp1 += da;
    }
  }
  const float n = stats[2 * E + 2];
  const float inv_n = n > 0.f ? 1.f / n : 0.f;
  if (e0 < E) dp0 += balance_weight * E * stats[e0] * inv_n;
  if (e1 < E) dp1 += balance_weight * E * stats[e1] * inv_n;
  const float dot = warp_sum(p0 * dp0 + p1 * dp1);
  const float zg = z_weight * 2.f * lse[t] * inv_n;
  if (e0 < E) out[e0] = p0 * (dp0 - dot) + zg * p0;
  if (e1 < E) out[e1] = p1 * (dp1 - dot) + zg * p1;
}

// ---------------------------------------------------------------- permutation

// One thread per 8 columns of a permuted row.
__global__ void permute_kernel(const int32_t* offsets, int E, const int32_t* row_slot, int k, const bf16* x, int H,
                               bf16* x_perm, long long vectors) {
  const int V = H / 8;
  const int rows = offsets[E];
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < vectors;
       i += (long long)gridDim.x * blockDim.x) {
    const int r = int(i / V), c = int(i % V) * 8;
    if (r >= rows) continue;
    const int t = row_slot[r] / k;
    *reinterpret_cast<uint4*>(x_perm + (long long)r * H + c) =
        *reinterpret_cast<const uint4*>(x + (long long)t * H + c);
  }
}

__global__ void unpermute_kernel(const int32_t* position, const float* gate, int T, int k, const bf16* y_perm, int H,
                                 bf16* y) {
  const int V = H / 8;
  const long long n = (long long)T * V;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const int t = int(i / V), c = int(i % V) * 8;
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (int s = 0; s < k; ++s) {
      const int pos = position[(long long)t * k + s];
      if (pos < 0) continue;
      const float g = gate[(long long)t * k + s];
      alignas(16) bf16 v[8];
      *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(y_perm + (long long)pos * H + c);
#pragma unroll
      for (int q = 0; q < 8; ++q) acc[q] += g * __bfloat162float(v[q]);
    }
    alignas(16) bf16 out[8];
#pragma unroll
    for (int q = 0; q < 8; ++q) out[q] = __float2bfloat16(acc[q]);
    *reinterpret_cast<uint4*>(y + (long long)t * H + c) = *reinterpret_cast<const uint4*>(out);
  }
}

// dy_perm[r] = gate[slot]·dy[token(slot)] for each permuted row.
__global__ void unpermute_bwd_rows_kernel(const int32_t* offsets, int E, const int32_t* row_slot, const float* gate,
                                          int k, const bf16* dy, int H, bf16* dy_perm, long long vectors, int acc) {
  const int V = H / 8;
  const int rows = offsets[E];
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < vectors;
       i += (long long)gridDim.x * blockDim.x) {
    const int r = int(i / V), c = int(i % V) * 8;
    if (r >= rows) continue;
    const int slot = row_slot[r];
    const float g = gate[slot];
    alignas(16) bf16 v[8], old[8];
    *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(dy + (long long)(slot / k) * H + c);
    uint4* out = reinterpret_cast<uint4*>(dy_perm + (long long)r * H + c);
    if (acc) *reinterpret_cast<uint4*>(old) = *out;
#pragma unroll
    for (int q = 0; q < 8; ++q)
      v[q] = __float2bfloat16(g * __bfloat162float(v[q]) + (acc ? __bfloat162float(old[q]) : 0.f));
    *out = *reinterpret_cast<const uint4*>(v);
  }
}

// dgate[slot] = dy[t]·y_perm[position[slot]]; one warp per slot.
__global__ void unpermute_bwd_gate_kernel(const int32_t* position, int T, int k, const bf16* dy, const bf16* y_perm,
                                          int H, float* dgate, int acc) {
  const long long slot = (long long)blockIdx.x * kWarpsRow + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (slot >= (long long)T * k) return;
  const int pos = position[slot];
  float s = 0.f;
  if (pos >= 0) {
    const bf16* a = dy + (slot / k) * H;
    const bf16* b = y_perm + (long long)pos * H;
    for (int c = lane; c < H; c += 32) s += __bfloat162float(a[c]) * __bfloat162float(b[c]);
  }
  s = warp_sum(s);
  if (lane == 0) dgate[slot] = s + (acc ? dgate[slot] : 0.f);
}

__global__ void permute_bwd_kernel(const int32_t* position, int T, int k, const bf16* dx_perm, int H, bf16* dx,
                                   int accumulate) {
  const int V = H / 8;
  const long long n = (long long)T * V;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const int t = int(i / V), c = int(i % V) * 8;
    alignas(16) bf16 v[8];
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (accumulate) {
      *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(dx + (long long)t * H + c);
#pragma unroll
      for (int q = 0; q < 8; ++q) acc[q] = __bfloat162float(v[q]);
    }
    for (int s = 0; s < k; ++s) {
      const int pos = position[(long long)t * k + s];
      if (pos < 0) continue;
      *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(dx_perm + (long long)pos * H + c);
#pragma unroll
      for (int q = 0; q < 8; ++q) acc[q] += __bfloat162float(v[q]);
    }
#pragma unroll
    for (int q = 0; q < 8; ++q) v[q] = __float2bfloat16(acc[q]);
    *reinterpret_cast<uint4*>(dx + (long long)t * H + c) = *reinterpret_cast<const uint4*>(v);
  }
}

unsigned grid_for(long long n, int block) {
  long long blocks = (n + block - 1) / block;
  if (blocks > 65535LL * 8) blocks = 65535LL * 8;
  return unsigned(blocks > 0 ? blocks : 1);
}

void check_h(int H, const void* const* ptrs, int n, const char* what) {
  if (H <= 0 || H % 8 != 0) throw_usage("{}: width {} must be a positive multiple of 8", what, H);
  for (int i = 0; i < n; ++i) {
    if (!ptrs[i]) throw_usage("{}: null tensor pointer (operand {})", what, i);
    if (reinterpret_cast<uintptr_t>(ptrs[i]) & 15u) throw_usage("{}: operand {} is not 16-byte aligned", what, i);
  }
}

}  // namespace

MoeRouting::MoeRouting(Context& ctx, int tokens, int experts, int top_k, double capacity_factor)
    : tokens_(tokens), experts_(experts), top_k_(top_k) {
  if (tokens <= 0) throw_usage("MoE routing: {} tokens", tokens);
  if (experts < 1 || experts > kMaxExperts) throw_usage("MoE routing: {} experts (1 to {})", experts, kMaxExperts);
  if (top_k != 1 && top_k != 2) throw_usage("MoE routing: top_k {} (1 or 2)", top_k);
  if (top_k > experts) throw_usage("MoE routing: top_k {} exceeds {} experts", top_k, experts);
  if ((long long)tokens * top_k > (1LL << 30)) throw_usage("MoE routing: {} tokens × {} slots too many", tokens, top_k);
  const long long A = (long long)tokens * top_k;
  if (capacity_factor <= 0) {
    capacity_ = int(A);
  } else {
    capacity_ = int(std::min<double>(double(A), std::ceil(double(A) / experts * capacity_factor)));
  }
  chunks_ = int((A + kChunk - 1) / kChunk);
  const size_t T = tokens, E = experts, K = top_k, C = chunks_;
  // One block, carved into 256-byte aligned arrays.
  const size_t sizes[] = {T * E * 4, T * 4, T * K * 4, T * K * 4, T * K * 4, T * K * 4, E * 4, (E + 1) * 4,
                          (E + 1) * 4, (2 * E + 4) * 4, T * K * 4, C * E * 4, C * E * 4};
  size_t total = 0;
  for (size_t s : sizes) total += (s + 255) / 256 * 256;
  buf_ = ctx.alloc(total);
  char* base = buf_.as<char>();
  size_t off = 0;
  void* ptrs[13];
  for (int i = 0; i < 13; ++i) {
    ptrs[i] = base + off;
    off += (sizes[i] + 255) / 256 * 256;
  }
  probs = static_cast<float*>(ptrs[0]);
  lse = static_cast<float*>(ptrs[1]);
  expert = static_cast<int32_t*>(ptrs[2]);
  gate = static_cast<float*>(ptrs[3]);
  position = static_cast<int32_t*>(ptrs[4]);
  row_slot = static_cast<int32_t*>(ptrs[5]);
  counts = static_cast<int32_t*>(ptrs[6]);
  offsets = static_cast<int32_t*>(ptrs[7]);
  tile_offsets = static_cast<int32_t*>(ptrs[8]);
  stats = static_cast<float*>(ptrs[9]);
  local_rank = static_cast<int32_t*>(ptrs[10]);
  chunk_counts = static_cast<int32_t*>(ptrs[11]);
  chunk_base = static_cast<int32_t*>(ptrs[12]);
}

ExpertGroups MoeRouting::groups() const {
  ExpertGroups g;
  g.experts = experts_;
  g.rows_bound = rows_bound();
  g.tile_bound = (rows_bound() + 63) / 64 + experts_;
  g.offsets = offsets;
  g.tile_offsets = tile_offsets;
  return g;
}

void moe_route(Context& ctx, MoeRouting& r, const float* logits, const uint8_t* token_mask, bool renormalize) {
  if (!logits) throw_usage("moe_route: null logits");
  route_kernel<<<ceil_div(r.tokens(), kWarpsRow), kWarpsRow * 32, 0, ctx.stream()>>>(
      logits, token_mask, r.tokens(), r.experts(), r.top_k(), renormalize ? 1 : 0, r.probs, r.lse, r.expert, r.gate);
  MDS_CUDA_CHECK_LAUNCH("route_kernel");
}

void moe_dispatch(Context& ctx, MoeRouting& r) {
  const int T = r.tokens(), E = r.experts(), k = r.top_k();
  dispatch_count_kernel<<<r.chunks(), kChunk, 0, ctx.stream()>>>(r.expert, T, k, E, r.local_rank, r.chunk_counts);
  MDS_CUDA_CHECK_LAUNCH("dispatch_count_kernel");
  dispatch_scan_kernel<<<1, kMaxExperts, 0, ctx.stream()>>>(r.chunk_counts, r.chunks(), E, r.capacity(),
                                                            r.chunk_base, r.counts, r.offsets, r.tile_offsets);
  MDS_CUDA_CHECK_LAUNCH("dispatch_scan_kernel");
  dispatch_place_kernel<<<ceil_div(T * k, 256), 256, 0, ctx.stream()>>>(r.expert, T, k, E, r.capacity(),
                                                                        r.local_rank, r.chunk_base, r.offsets,
                                                                        r.position, r.row_slot);
  MDS_CUDA_CHECK_LAUNCH("dispatch_place_kernel");
}

void moe_aux_losses(Context& ctx, MoeRouting& r, float balance_coef, float z_coef) {
  aux_partial_kernel<<<r.experts() + 1, 256, 0, ctx.stream()>>>(r.probs, r.lse, r.expert, r.tokens(), r.experts(),
                                                                r.top_k(), r.stats);
  MDS_CUDA_CHECK_LAUNCH("aux_partial_kernel");
  aux_finish_kernel<<<1, 32, 0, ctx.stream()>>>(r.stats, r.experts(), balance_coef, z_coef);
  MDS_CUDA_CHECK_LAUNCH("aux_finish_kernel");
}

void moe_permute(Context& ctx, const MoeRouting& r, const bf16* x, int H, bf16* x_perm) {
  const void* ptrs[] = {x, x_perm};
  check_h(H, ptrs, 2, "moe_permute");
  const long long vectors = (long long)r.rows_bound() * (H / 8);
  permute_kernel<<<grid_for(vectors, 256), 256, 0, ctx.stream()>>>(r.offsets, r.experts(), r.row_slot, r.top_k(), x,
                                                                   H, x_perm, vectors);
  MDS_CUDA_CHECK_LAUNCH("permute_kernel");
}

void moe_unpermute(Context& ctx, const MoeRouting& r, const bf16* y_perm, int H, bf16* y) {
  const void* ptrs[] = {y_perm, y};
  check_h(H, ptrs, 2, "moe_unpermute");
  unpermute_kernel<<<grid_for((long long)r.tokens() * (H / 8), 256), 256, 0, ctx.stream()>>>(
      r.position, r.gate, r.tokens(), r.top_k(), y_perm, H, y);
  MDS_CUDA_CHECK_LAUNCH("unpermute_kernel");
}

void moe_unpermute_backward(Context& ctx, const MoeRouting& r, const bf16* dy, const bf16* y_perm, int H,
                            bf16* dy_perm, float* dgate, bool accumulate) {
  const void* ptrs[] = {dy, y_perm, dy_perm, dgate};
  check_h(H, ptrs, 4, "moe_unpermute_backward");
  const long long vectors = (long long)r.rows_bound() * (H / 8);
  unpermute_bwd_rows_kernel<<<grid_for(vectors, 256), 256, 0, ctx.stream()>>>(
      r.offsets, r.experts(), r.row_slot, r.gate, r.top_k(), dy, H, dy_perm, vectors, accumulate ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("unpermute_bwd_rows_kernel");
  unpermute_bwd_gate_kernel<<<ceil_div(r.rows_bound(), kWarpsRow), kWarpsRow * 32, 0, ctx.stream()>>>(
      r.position, r.tokens(), r.top_k(), dy, y_perm, H, dgate, accumulate ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("unpermute_bwd_gate_kernel");
}

void moe_permute_backward(Context& ctx, const MoeRouting& r, const bf16* dx_perm, int H, bf16* dx, bool accumulate) {
  const void* ptrs[] = {dx_perm, dx};
  check_h(H, ptrs, 2, "moe_permute_backward");
  permute_bwd_kernel<<<grid_for((long long)r.tokens() * (H / 8), 256), 256, 0, ctx.stream()>>>(
      r.position, r.tokens(), r.top_k(), dx_perm, H, dx, accumulate ? 1 : 0);
  MDS_CUDA_CHECK_LAUNCH("permute_bwd_kernel");
}

void moe_route_backward(Context& ctx, const MoeRouting& r, const float* dgate, bool renormalize,
                        float balance_weight, float z_weight, float* dlogits) {
  if (!dgate || !dlogits) throw_usage("moe_route_backward: null tensor pointer");
  route_backward_kernel<<<ceil_div(r.tokens(), kWarpsRow), kWarpsRow * 32, 0, ctx.stream()>>>(
      r.probs, r.lse, r.expert, r.gate, dgate, r.stats, r.tokens(), r.experts(), r.top_k(), renormalize ? 1 : 0,
      balance_weight, z_weight, dlogits);
  MDS_CUDA_CHECK_LAUNCH("route_backward_kernel");
}

}  // namespace mds::cuda
