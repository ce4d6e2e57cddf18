// MoE glue kernels of the CUDA Backend in the CPU backend's formulation:
// top-k gates over router probabilities, gate-weighted combine of expert
// outputs over dispatch slots, and the router auxiliary-loss gradients.
#include <algorithm>

#include "kernels/backend_ops.h"

namespace mds::cuda::bk {
namespace {
constexpr int kThreads = 256;
unsigned grid_for(int64_t n) { return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 1 << 20))); }
#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void topk_fwd_k(const float* probs, int64_t N, int E, int k, bool renorm, int32_t* idx, float* gates) {
  GRID_STRIDE(n, N) {
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
  GRID_STRIDE(n, N) {
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
  GRID_STRIDE(s, slots) slot_of[sc[s]] = static_cast<int32_t>(s);
}
__global__ void combine_fwd_k(const float* yp, const float* gates, const int32_t* slot_of, int64_t N, int k, int64_t C,
                              float* out) {
  GRID_STRIDE(i, N * C) {
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
__global__ void row_lse_k(const float* x, int64_t rows, int64_t cols, double* lse) {
  GRID_STRIDE(r, rows) {
    const float* xr = x + r * cols;
    double mx = xr[0];
    for (int64_t e = 1; e < cols; ++e) mx = fmax(mx, double(xr[e]));
    double s = 0;
    for (int64_t e = 0; e < cols; ++e) s += exp(double(xr[e]) - mx);
    lse[r] = mx + log(s);
  }
}
__global__ void aux_bwd_k(const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                          const float* frac_scaled, double z_scale, float* dl, float* dp) {
  GRID_STRIDE(n, N) {
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

#define LAUNCH(kernel, n, ...)                                                   \
  do {                                                                           \
    if ((n) > 0) kernel<<<grid_for(n), kThreads, 0, ctx.stream()>>>(__VA_ARGS__); \
    MDS_CUDA_CHECK_LAUNCH(#kernel);                                              \
  } while (0)

void topk_gates_forward(Context& ctx, const float* probs, int64_t N, int E, int k, bool renorm, int32_t* idx,
                        float* gates) {
  LAUNCH(topk_fwd_k, N, probs, N, E, k, renorm, idx, gates);
}
void topk_gates_backward(Context& ctx, const float* probs, const int32_t* idx, int64_t N, int E, int k, bool renorm,
                         const float* dgates, float* dprobs) {
  LAUNCH(topk_bwd_k, N, probs, idx, N, E, k, renorm, dgates, dprobs);
}
void slot_of_choice(Context& ctx, const int32_t* slot_choice, int64_t slots, int32_t* slot_of, int64_t nk) {
  fill_i32(ctx, slot_of, -1, nk);
  LAUNCH(slot_of_k, slots, slot_choice, slots, slot_of);
}
void moe_combine_forward(Context& ctx, const float* yp, const float* gates, const int32_t* slot_of, int64_t N, int k,
                         int64_t C, float* out) {
  LAUNCH(combine_fwd_k, N * C, yp, gates, slot_of, N, k, C, out);
}
void moe_combine_backward(Context& ctx, const float* yp, const float* gates, const int32_t* slot_token,
                          const int32_t* slot_choice, int64_t slots, int64_t C, const float* dout, float* dyp,
                          float* dgates) {
  if (slots == 0) return;
  combine_bwd_k<<<unsigned((slots + 7) / 8), 256, 0, ctx.stream()>>>(yp, gates, slot_token, slot_choice, slots, C,
                                                                      dout, dyp, dgates);
  MDS_CUDA_CHECK_LAUNCH("moe_combine_backward");
}
void row_lse(Context& ctx, const float* x, int64_t rows, int64_t cols, double* lse) {
  LAUNCH(row_lse_k, rows, x, rows, cols, lse);
}
void router_aux_backward(Context& ctx, const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                         const float* frac_scaled, double z_scale, float* dlogits, float* dprobs) {
  LAUNCH(aux_bwd_k, N, logits, probs, valid, N, E, frac_scaled, z_scale, dlogits, dprobs);
}

}  // namespace mds::cuda::bk
