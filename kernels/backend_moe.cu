// MoE glue kernels of the CUDA Backend in the CPU backend's formulation:
// top-k gates over router probabilities, gate-weighted combine of expert
// outputs over dispatch slots, and the router auxiliary-loss gradients.
#include <algorithm>

#include "kernels/backend_ops.h"
#include "kernels/common.cuh"

namespace mds::cuda::bk {
namespace {

__global__ void topk_fwd_k(const float* probs, int64_t N, int E, int k, bool renorm, int32_t* idx, float* gates) {
  MDS_GRID_STRIDE(n, N) {
    const float* row = probs + n * E;
    int32_t* ir = idx + n * k;
    float sum = 0.f;
    for (int c = 0; c < k; ++c) {
      int best = -1;
      for (int e = 0; e < E; ++e) {
        bool taken = false;
        for (int q = 0; q < c; ++q) taken |= ir[q] == e;
        if (!taken && (best < 0 || row[e] > row[best])) best = e;  // strict >: ties to the lower index
      }
      ir[c] = best;
      sum += row[best];
    }
    for (int c = 0; c < k; ++c) gates[n * k + c] = renorm ? row[ir[c]] / sum : row[ir[c]];
  }
}
__global__ void topk_bwd_k(const float* probs, const int32_t* idx, int64_t N, int E, int k, bool renorm,
                           const float* dg, float* dp) {
  MDS_GRID_STRIDE(n, N) {
    const int32_t* ir = idx + n * k;
    if (!renorm) {
      for (int c = 0; c < k; ++c) dp[n * E + ir[c]] += dg[n * k + c];
      continue;
    }
    float S = 0.f, dot = 0.f;
    for (int c = 0; c < k; ++c) S += probs[n * E + ir[c]];
    for (int c = 0; c < k; ++c) dot += dg[n * k + c] * probs[n * E + ir[c]];
    for (int c = 0; c < k; ++c) dp[n * E + ir[c]] += dg[n * k + c] / S - dot / (S * S);
  }
}
__global__ void slot_of_k(const int32_t* sc, int64_t slots, int32_t* slot_of) {
  MDS_GRID_STRIDE(s, slots) slot_of[sc[s]] = static_cast<int32_t>(s);
}
__global__ void combine_fwd_k(const float* yp, const float* gates, const int32_t* slot_of, int64_t N, int k, int64_t C,
                              float* out) {
  MDS_GRID_STRIDE(i, N * C) {
    const int64_t n = i / C, j = i % C;
    float o = 0.f;
    for (int c = 0; c < k; ++c) {
      const int32_t s = slot_of[n * k + c];
      if (s >= 0) o += gates[n * k + c] * yp[int64_t(s) * C + j];
    }
    out[i] = o;
  }
}
// One warp per slot.
__global__ void combine_bwd_k(const float* yp, const float* gates, const int32_t* st, const int32_t* sc, int64_t slots,
                              int64_t C, const float* dout, float* dyp, float* dgates) {
  const int64_t s = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (s >= slots) return;
  const float* go = dout + int64_t(st[s]) * C;
  const float g = gates[sc[s]];
  float dot = 0.f;
  for (int64_t j = lane; j < C; j += 32) {
    if (dyp) dyp[s * C + j] += g * go[j];
    dot += go[j] * yp[s * C + j];
  }
  for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
  if (lane == 0 && dgates) dgates[sc[s]] += dot;  // each choice has at most one slot
}
// Block-wide exclusive scan of one int per thread (blockDim.x = kDispatchThreads);
// returns the thread's exclusive prefix and sets *total. Contains __syncthreads().
constexpr int kDispatchThreads = 1024;
__device__ int block_exclusive_scan(int v, int* warp_sums, int* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int x = v;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  __syncthreads();  // warp_sums may still be read by a previous scan
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int w = warp_sums[lane];
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += y;
    }
    warp_sums[lane] = w;  // inclusive over warps
  }
  __syncthreads();
  *total = warp_sums[31];
  return x - v + (warp > 0 ? warp_sums[warp - 1] : 0);
}

// One block. Pass 1 walks the picks in priority order p = c*N + n (choice
// first, then token) and ranks each pick among its expert's picks: a pick is
// kept while its rank is below the capacity. Pass 2 walks them in slot order
// q = n*k + c and places the kept ones. Each thread owns the same contiguous
// range [p0, p1) of both orders, so both passes are stable, as the CPU loop.
__global__ void __launch_bounds__(kDispatchThreads)
    dispatch_k(const int32_t* idx, const uint8_t* valid, int64_t N, int k, int E, int64_t capacity, int32_t* st,
               int32_t* sc, int32_t* cnt, int32_t* base, int64_t* info, int64_t* fault) {
  __shared__ int warp_sums[32];
  __shared__ int64_t kept_total[256];
  const int t = threadIdx.x, T = blockDim.x;
  const int64_t P = N * k, chunk = (P + T - 1) / T;
  const int64_t p0 = min(P, t * chunk), p1 = min(P, p0 + chunk);
  int32_t* my = cnt + int64_t(t) * E;
  int32_t* my_base = base + int64_t(t) * E;
  int total = 0;

  // Valid tokens.
  const int64_t n_chunk = (N + T - 1) / T, n0 = min(N, t * n_chunk), n1 = min(N, n0 + n_chunk);
  int routed = 0;
  for (int64_t n = n0; n < n1; ++n) routed += (!valid || valid[n]) ? 1 : 0;
  block_exclusive_scan(routed, warp_sums, &total);
  if (t == 0) info[3 * E + 2] = total;

  // Pass 1a: picks per expert in this thread's priority range; the scan gives
  // each thread the count of its expert's picks before the range.
  for (int e = 0; e < E; ++e) my[e] = 0;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t c = p / N, n = p % N;
    if (valid && !valid[n]) continue;
    const int e = idx[n * k + c];
    if (e < 0 || e >= E) {
      if (atomicCAS(reinterpret_cast<unsigned long long*>(fault), 0ull, 5ull) == 0ull)
        fault[1] = n * k + c, fault[2] = e, fault[3] = E;
      continue;
    }
    ++my[e];
  }
  for (int e = 0; e < E; ++e) {
    my_base[e] = block_exclusive_scan(my[e], warp_sums, &total);
    if (t == 0) {
      info[E + 1 + e] = total;  // assigned, before the capacity
      kept_total[e] = capacity < 0 ? int64_t(total) : (int64_t(total) < capacity ? int64_t(total) : capacity);
    }
  }
  // First choices: the priority prefix p < N.
  for (int e = 0; e < E; ++e) my[e] = 0;
  for (int64_t p = p0; p < min(p1, N); ++p) {
    if (valid && !valid[p]) continue;
    const int e = idx[p * k];
    if (e >= 0 && e < E) ++my[e];
  }
  for (int e = 0; e < E; ++e) {
    block_exclusive_scan(my[e], warp_sums, &total);
    if (t == 0) info[2 * E + 1 + e] = total;
  }
  __syncthreads();
  if (t == 0) {
    int64_t off = 0, dropped = 0;
    for (int e = 0; e < E; ++e) {
      info[e] = off;
      off += kept_total[e];
      dropped += info[E + 1 + e] - kept_total[e];
    }
    info[E] = off;
    info[3 * E + 1] = dropped;
  }

  // Pass 1b: keep flags, stored at slot-order index q in sc (scratch until the end).
  for (int e = 0; e < E; ++e) my[e] = my_base[e];
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t c = p / N, n = p % N, q = n * k + c;
    const int e = (valid && !valid[n]) ? -1 : idx[q];
    if (e < 0 || e >= E) {
      sc[q] = 0;
      continue;
    }
    const int rank = my[e]++;
    sc[q] = (capacity < 0 || rank < capacity) ? 1 : 0;
  }
  __syncthreads();  // every flag written (global writes are visible to the block after this)

  // Pass 2: kept picks per expert in this thread's slot-order range, scanned,
  // then placed after the expert's offset.
  for (int e = 0; e < E; ++e) my[e] = 0;
  for (int64_t q = p0; q < p1; ++q)
    if (sc[q]) ++my[idx[q]];
  for (int e = 0; e < E; ++e) my_base[e] = block_exclusive_scan(my[e], warp_sums, &total);
  for (int e = 0; e < E; ++e) my[e] = my_base[e] + int(info[e]);
  for (int64_t q = p0; q < p1; ++q)
    if (sc[q]) st[my[idx[q]]++] = int32_t(q);
  __syncthreads();  // all flags read, all placements written
  const int64_t S = info[E];
  for (int64_t s = t; s < S; s += T) {
    const int32_t q = st[s];
    sc[s] = q;
    st[s] = q / k;
  }
}

// Partial router sums per block over a fixed partition of the rows.
constexpr int kSumBlocks = 128, kSumThreads = 256;
__global__ void router_partial_k(const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                                 double* partial) {
  extern __shared__ double red[];  // [kSumThreads]
  const int64_t rows_per = (N + gridDim.x - 1) / gridDim.x;
  const int64_t r0 = min(N, blockIdx.x * rows_per), r1 = min(N, r0 + rows_per);
  for (int j = 0; j <= E; ++j) {
    double acc = 0;
    for (int64_t n = r0 + threadIdx.x; n < r1; n += blockDim.x) {
      if (valid && !valid[n]) continue;
      if (j < E) {
        acc += probs[n * E + j];
      } else {
        const float* xr = logits + n * E;
        double mx = xr[0];
        for (int e = 1; e < E; ++e) mx = fmax(mx, double(xr[e]));
        double s = 0;
        for (int e = 0; e < E; ++e) s += exp(double(xr[e]) - mx);
        const double l = mx + log(s);
        acc += l * l;
      }
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
      if (threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) partial[int64_t(blockIdx.x) * (E + 1) + j] = red[0];
    __syncthreads();
  }
}
__global__ void router_final_k(const double* partial, int blocks, int E, double* out) {
  for (int j = threadIdx.x; j <= E; j += blockDim.x) {
    double s = 0;
    for (int b = 0; b < blocks; ++b) s += partial[int64_t(b) * (E + 1) + j];
    out[j] = s;
  }
}
__global__ void aux_bwd_k(const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                          const float* frac_scaled, double z_scale, float* dl, float* dp) {
  MDS_GRID_STRIDE(n, N) {
    if (valid && !valid[n]) continue;
    if (dp && frac_scaled)
      for (int e = 0; e < E; ++e) dp[n * E + e] += frac_scaled[e];
    if (dl && z_scale != 0) {
      const float* xr = logits + n * E;
      double mx = xr[0];
      for (int e = 1; e < E; ++e) mx = fmax(mx, double(xr[e]));
      double s = 0;
      for (int e = 0; e < E; ++e) s += exp(double(xr[e]) - mx);
      const double l = mx + log(s);
      for (int e = 0; e < E; ++e) dl[n * E + e] += float(z_scale * 2.0 * l * double(probs[n * E + e]));
    }
  }
}
}  // namespace


void topk_gates_forward(Context& ctx, const float* probs, int64_t N, int E, int k, bool renorm, int32_t* idx,
                        float* gates) {
  MDS_LAUNCH_GRID_STRIDE(topk_fwd_k, N, probs, N, E, k, renorm, idx, gates);
}
void topk_gates_backward(Context& ctx, const float* probs, const int32_t* idx, int64_t N, int E, int k, bool renorm,
                         const float* dgates, float* dprobs) {
  MDS_LAUNCH_GRID_STRIDE(topk_bwd_k, N, probs, idx, N, E, k, renorm, dgates, dprobs);
}
void slot_of_choice(Context& ctx, const int32_t* slot_choice, int64_t slots, int32_t* slot_of, int64_t nk) {
  fill_i32(ctx, slot_of, -1, nk);
  MDS_LAUNCH_GRID_STRIDE(slot_of_k, slots, slot_choice, slots, slot_of);
}
void moe_combine_forward(Context& ctx, const float* yp, const float* gates, const int32_t* slot_of, int64_t N, int k,
                         int64_t C, float* out) {
  MDS_LAUNCH_GRID_STRIDE(combine_fwd_k, N * C, yp, gates, slot_of, N, k, C, out);
}
void moe_combine_backward(Context& ctx, const float* yp, const float* gates, const int32_t* slot_token,
                          const int32_t* slot_choice, int64_t slots, int64_t C, const float* dout, float* dyp,
                          float* dgates) {
  if (slots == 0) return;
  combine_bwd_k<<<unsigned((slots + 7) / 8), 256, 0, ctx.stream()>>>(yp, gates, slot_token, slot_choice, slots, C,
                                                                      dout, dyp, dgates);
  MDS_CUDA_CHECK_LAUNCH("moe_combine_backward");
}
void moe_dispatch_slots(Context& ctx, const int32_t* idx, const uint8_t* valid, int64_t N, int k, int E,
                        int64_t capacity, int32_t* slot_token, int32_t* slot_choice, int32_t* scratch, int64_t* info,
                        int64_t* fault) {
  if (E < 1 || E > 256) throw_runtime("moe_dispatch: {} experts (the device dispatch supports 1 to 256)", E);
  if (N * k >= (int64_t(1) << 31)) throw_runtime("moe_dispatch: {} picks exceed the int32 slot index", N * k);
  dispatch_k<<<1, kDispatchThreads, 0, ctx.stream()>>>(idx, valid, N, k, E, capacity, slot_token, slot_choice,
                                                       scratch, scratch + int64_t(kDispatchThreads) * E, info, fault);
  MDS_CUDA_CHECK_LAUNCH("moe_dispatch_slots");
}
void router_sums(Context& ctx, const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                 double* out) {
  DeviceBuffer partial = ctx.alloc_n<double>(size_t(kSumBlocks) * (E + 1));
  if (N > 0) {
    router_partial_k<<<kSumBlocks, kSumThreads, kSumThreads * sizeof(double), ctx.stream()>>>(
        logits, probs, valid, N, E, partial.as<double>());
    MDS_CUDA_CHECK_LAUNCH("router_partial_k");
  } else {
    ctx.fill_zero(partial.data(), partial.bytes());
  }
  router_final_k<<<1, 64, 0, ctx.stream()>>>(partial.as<double>(), kSumBlocks, E, out);
  MDS_CUDA_CHECK_LAUNCH("router_final_k");
}
void router_aux_backward(Context& ctx, const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                         const float* frac_scaled, double z_scale, float* dlogits, float* dprobs) {
  MDS_LAUNCH_GRID_STRIDE(aux_bwd_k, N, logits, probs, valid, N, E, frac_scaled, z_scale, dlogits, dprobs);
}

}  // namespace mds::cuda::bk
