// Row-indexed fp32 kernels of the CUDA Backend: gather / scatter-add of rows
// (embeddings, permutations), position + time embedding add, and row_combine
// (noising, absorbing replacement, source re-imposition).
#include <algorithm>

#include "kernels/backend_ops.h"
#include "kernels/common.cuh"
#include "kernels/column_reduce.cuh"

namespace mds::cuda::bk {
namespace {

__global__ void gather_k(const float* x, const int32_t* idx, float* out, int64_t S, int64_t C) {
  MDS_GRID_STRIDE(i, S * C) out[i] = x[int64_t(idx[i / C]) * C + i % C];
}
// Float atomics: the order of additions into one row may vary between runs.
__global__ void scatter_k(const float* d, const int32_t* idx, float* dx, int64_t S, int64_t C) {
  MDS_GRID_STRIDE(i, S * C) atomicAdd(dx + int64_t(idx[i / C]) * C + i % C, d[i]);
}
// The first fault wins; later ones leave the record alone.
__device__ void record_fault(int64_t* fault, int code, int64_t pos, int64_t value, int64_t bound) {
  if (atomicCAS(reinterpret_cast<unsigned long long*>(fault), 0ull, static_cast<unsigned long long>(code)) == 0ull)
    fault[1] = pos, fault[2] = value, fault[3] = bound;
}
__global__ void check_index_k(const int32_t* idx, int64_t n, int64_t bound, int code, int64_t* fault) {
  MDS_GRID_STRIDE(i, n) {
    const int32_t v = idx[i];
    if (v < 0 || v >= bound) record_fault(fault, code, i, v, bound);
  }
}
__global__ void check_targets_k(const int32_t* tgt, const float* w, int64_t n, int64_t vocab, int code,
                                int64_t* fault) {
  MDS_GRID_STRIDE(i, n) {
    const int32_t v = tgt[i];
    if (w[i] != 0.f && (v < 0 || v >= vocab)) record_fault(fault, code, i, v, vocab);
  }
}
__global__ void pos_time_fwd_k(const float* x, const float* pos, const float* temb, int L, int64_t H, float* out,
                               int64_t n) {
  MDS_GRID_STRIDE(i, n) {
    const int64_t r = i / H, c = i % H, b = r / L, l = r % L;
    out[i] = x[i] + pos[l * H + c] + temb[b * H + c];
  }
}
__global__ void dpos_k(const float* d, int B, int L, int64_t H, float* dpos) {
  MDS_GRID_STRIDE(i, int64_t(L) * H) {
    float s = 0.f;
    for (int b = 0; b < B; ++b) s += d[int64_t(b) * L * H + i];
    dpos[i] += s;
  }
}
// dtemb[b] collects the rows of example b: a column sum over its L rows.
struct RowTerm {
  const float* d;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float (&acc)[1]) const { acc[0] += d[r * cols + c]; }
};
__global__ void combine_fwd_k(const float* x, const float* ax, const float* m, const float* am, const float* e,
                              const float* ae, float* out, int64_t R, int64_t C) {
  MDS_GRID_STRIDE(i, R * C) {
    const int64_t r = i / C;
    float v = ax[r] * x[i];
    if (m) v += am[r] * m[i % C];
    if (e) v += ae[r] * e[i];
    out[i] = v;
  }
}
__global__ void combine_bwd_k(const float* d, const float* ax, const float* ae, float* dx, float* de, int64_t R,
                              int64_t C) {
  MDS_GRID_STRIDE(i, R * C) {
    const int64_t r = i / C;
    if (dx) dx[i] += ax[r] * d[i];
    if (de) de[i] += ae[r] * d[i];
  }
}
struct WeightedRowTerm {
  const float *d, *w;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float (&acc)[1]) const { acc[0] += w[r] * d[r * cols + c]; }
};
}  // namespace


void check_index_range(Context& ctx, const int32_t* idx, int64_t n, int64_t bound, int code, int64_t* fault) {
  MDS_LAUNCH_GRID_STRIDE(check_index_k, n, idx, n, bound, code, fault);
}
void check_targets(Context& ctx, const int32_t* tgt, const float* w, int64_t n, int64_t vocab, int code,
                   int64_t* fault) {
  MDS_LAUNCH_GRID_STRIDE(check_targets_k, n, tgt, w, n, vocab, code, fault);
}
void gather_rows(Context& ctx, const float* x, const int32_t* idx, float* out, int64_t S, int64_t C) {
  MDS_LAUNCH_GRID_STRIDE(gather_k, S * C, x, idx, out, S, C);
}
void scatter_add_rows(Context& ctx, const float* dout, const int32_t* idx, float* dx, int64_t S, int64_t C) {
  MDS_LAUNCH_GRID_STRIDE(scatter_k, S * C, dout, idx, dx, S, C);
}
void add_position_time_forward(Context& ctx, const float* x, const float* pos, const float* temb, int B, int L,
                               int64_t H, float* out) {
  const int64_t n = int64_t(B) * L * H;
  MDS_LAUNCH_GRID_STRIDE(pos_time_fwd_k, n, x, pos, temb, L, H, out, n);
}
void add_position_time_backward(Context& ctx, const float* dout, int B, int L, int64_t H, float* dpos, float* dtemb) {
  if (dpos) MDS_LAUNCH_GRID_STRIDE(dpos_k, int64_t(L) * H, dout, B, L, H, dpos);
  if (dtemb)
    for (int b = 0; b < B; ++b)
      colred::column_reduce<1>(ctx, RowTerm{dout + int64_t(b) * L * H, H}, L, H, colred::Outputs<1>{{dtemb + b * H}},
                               "dtemb");
}
void row_combine_forward(Context& ctx, const float* x, const float* ax, const float* m, const float* am,
                         const float* e, const float* ae, float* out, int64_t R, int64_t C) {
  MDS_LAUNCH_GRID_STRIDE(combine_fwd_k, R * C, x, ax, m, am, e, ae, out, R, C);
}
void row_combine_backward(Context& ctx, const float* dout, const float* ax, const float* am, const float* ae,
                          float* dx, float* dm, float* de, int64_t R, int64_t C) {
  if (dx || de) MDS_LAUNCH_GRID_STRIDE(combine_bwd_k, R * C, dout, ax, ae, dx, de, R, C);
  if (dm) colred::column_reduce<1>(ctx, WeightedRowTerm{dout, am, C}, R, C, colred::Outputs<1>{{dm}}, "combine_dm");
}

}  // namespace mds::cuda::bk
