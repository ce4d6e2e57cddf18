// Deterministic column sums over many rows in two passes, for the parameter
// gradients of row-wise ops (bias, layer-norm gain and shift, time embedding,
// the absorbing state): out_v[c] += Σ_r term_v(r, c). A single thread per
// column walking every row leaves the GPU idle at long sequences (768 columns
// are 3 blocks for 32k rows), so rows are cut into fixed chunks: pass one
// writes a partial sum per (chunk, column), pass two adds the partials in
// chunk order. The chunking depends only on the shape, never on timing, so
// results are bit-reproducible.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda::colred {

constexpr int kColumnThreads = 128;
constexpr int64_t kChunkRows = 128;

// Term is a device functor: `void operator()(int64_t r, int64_t c, float (&acc)[NV]) const` adds row r's terms.
template <int NV, typename Term>
__global__ void column_partials_kernel(Term term, int64_t rows, int64_t cols, float* partial) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  const int64_t r0 = blockIdx.y * kChunkRows, r1 = min(rows, r0 + kChunkRows);
  float acc[NV];
#pragma unroll
  for (int v = 0; v < NV; ++v) acc[v] = 0.f;
  for (int64_t r = r0; r < r1; ++r) term(r, c, acc);
#pragma unroll
  for (int v = 0; v < NV; ++v) partial[(int64_t(v) * gridDim.y + blockIdx.y) * cols + c] = acc[v];
}

template <int NV>
struct Outputs {
  float* out[NV];
};

template <int NV>
__global__ void column_finish_kernel(const float* partial, int64_t chunks, int64_t cols, Outputs<NV> outs) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
#pragma unroll
  for (int v = 0; v < NV; ++v) {
    if (!outs.out[v]) continue;
    float s = 0.f;
    for (int64_t k = 0; k < chunks; ++k) s += partial[(int64_t(v) * chunks + k) * cols + c];
    outs.out[v][c] += s;
  }
}

// out[v][c] += Σ_r term(r, c)[v] for v < NV (a null out[v] is skipped).
template <int NV, typename Term>
void column_reduce(Context& ctx, const Term& term, int64_t rows, int64_t cols, Outputs<NV> outs, const char* what) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  if (chunks > 65535) throw_runtime("{}: {} rows exceed the column reduction's {} chunks", what, rows, 65535);
  DeviceBuffer partial = ctx.alloc_n<float>(size_t(NV) * chunks * cols);
  const unsigned col_blocks = unsigned((cols + kColumnThreads - 1) / kColumnThreads);
  column_partials_kernel<NV><<<dim3(col_blocks, unsigned(chunks)), kColumnThreads, 0, ctx.stream()>>>(
      term, rows, cols, partial.as<float>());
  MDS_CUDA_CHECK_LAUNCH(what);
  column_finish_kernel<NV><<<col_blocks, kColumnThreads, 0, ctx.stream()>>>(partial.as<float>(), chunks, cols, outs);
  MDS_CUDA_CHECK_LAUNCH(what);
}

}  // namespace mds::cuda::colred
