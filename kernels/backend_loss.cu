// Per-row kernels of the blocked tied cross-entropy and of rounding in the
// CUDA Backend: the logits block comes from an fp32 cuBLAS GEMM; these turn it
// into nll / gradient rows (one warp per row) or arg-max token ids.
#include "kernels/backend_ops.h"
#include "kernels/common.cuh"

namespace mds::cuda::bk {
namespace {
constexpr int kWarps = 8;
// Adds the bias and returns the row's log-sum-exp (all lanes).
__device__ float bias_lse(float* l, const float* bias, int64_t V, int lane) {
  float mx = -INFINITY;
  for (int64_t v = lane; v < V; v += 32) {
    if (bias) l[v] += bias[v];
    mx = fmaxf(mx, l[v]);
  }
  mx = warp_max(mx);
  float s = 0.f;
  for (int64_t v = lane; v < V; v += 32) s += expf(l[v] - mx);
  return mx + logf(warp_sum(s));
}
__global__ void ce_fwd_k(float* logits, const float* bias, const int32_t* tgt, const float* w, int64_t R, int64_t V,
                         float* nll) {
  const int64_t r = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= R) return;
  if (w[r] == 0.f) {
    if (lane == 0) nll[r] = 0.f;
    return;
  }
  float* l = logits + r * V;
  const float lse = bias_lse(l, bias, V, lane);
  __syncwarp();
  if (lane == 0) nll[r] = lse - l[tgt[r]];
}
__global__ void ce_grad_k(float* logits, const float* bias, const int32_t* tgt, const float* w, int64_t R, int64_t V) {
  const int64_t r = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= R) return;
  float* l = logits + r * V;
  const float wr = w[r];
  if (wr == 0.f) {
    for (int64_t v = lane; v < V; v += 32) l[v] = 0.f;
    return;
  }
  const float lse = bias_lse(l, bias, V, lane);
  for (int64_t v = lane; v < V; v += 32) l[v] = wr * expf(l[v] - lse);
  __syncwarp();
  if (lane == 0) l[tgt[r]] -= wr;
}
__global__ void argmax_k(const float* s, const float* off, int64_t R, int64_t V, int32_t* ids) {
  const int64_t r = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= R) return;
  float best = -INFINITY;
  int64_t bi = -1;
  for (int64_t v = lane; v < V; v += 32) {
    const float x = s[r * V + v] + (off ? off[v] : 0.f);
    if (bi < 0 || x > best) best = x, bi = v;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (oi >= 0 && (bi < 0 || ob > best || (ob == best && oi < bi))) best = ob, bi = oi;
  }
  if (lane == 0) ids[r] = static_cast<int32_t>(bi);
}
__global__ void neg_norm_k(const float* E, int64_t V, int64_t d, float* out) {
  const int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (v >= V) return;
  float s = 0.f;
  for (int64_t c = 0; c < d; ++c) s += E[v * d + c] * E[v * d + c];
  out[v] = -s;
}
unsigned row_grid(int64_t rows) { return static_cast<unsigned>((rows + kWarps - 1) / kWarps); }
}  // namespace

void ce_rows_forward(Context& ctx, float* logits, const float* bias, const int32_t* tgt, const float* w, int64_t R,
                     int64_t V, float* nll) {
  if (R == 0) return;
  ce_fwd_k<<<row_grid(R), 32 * kWarps, 0, ctx.stream()>>>(logits, bias, tgt, w, R, V, nll);
  MDS_CUDA_CHECK_LAUNCH("ce_rows_forward");
}
void ce_rows_grad(Context& ctx, float* logits, const float* bias, const int32_t* tgt, const float* w, int64_t R,
                  int64_t V) {
  if (R == 0) return;
  ce_grad_k<<<row_grid(R), 32 * kWarps, 0, ctx.stream()>>>(logits, bias, tgt, w, R, V);
  MDS_CUDA_CHECK_LAUNCH("ce_rows_grad");
}
void argmax_rows(Context& ctx, const float* scores, const float* offset, int64_t R, int64_t V, int32_t* ids) {
  if (R == 0) return;
  argmax_k<<<row_grid(R), 32 * kWarps, 0, ctx.stream()>>>(scores, offset, R, V, ids);
  MDS_CUDA_CHECK_LAUNCH("argmax_rows");
}
void neg_row_norms(Context& ctx, const float* E, int64_t V, int64_t d, float* out) {
  if (V == 0) return;
  neg_norm_k<<<unsigned((V + 127) / 128), 128, 0, ctx.stream()>>>(E, V, d, out);
  MDS_CUDA_CHECK_LAUNCH("neg_row_norms");
}

}  // namespace mds::cuda::bk
