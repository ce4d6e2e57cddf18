// Embedding gather and deterministic scatter-add (see embedding.h).
#include "kernels/embedding.h"

#include <cub/device/device_radix_sort.cuh>

#include "kernels/common.cuh"

namespace mds::cuda {

namespace {

constexpr int kWarps = 8;

template <typename T>
__global__ void gather_kernel(const T* table, const int32_t* ids, bf16* out, int tokens, int vocab, int dim) {
  const int t = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (t >= tokens) return;
  const int id = ids[t];
  bf16* o = out + (long long)t * dim;
  if (id < 0 || id >= vocab) {
    for (int c = lane; c < dim; c += 32) o[c] = __float2bfloat16(0.f);
    return;
  }
  const T* row = table + (long long)id * dim;
  for (int c = lane; c < dim; c += 32) o[c] = __float2bfloat16(to_f(row[c]));
}

// One warp per sorted position that starts a run of equal ids: sums the run's rows in order.
__global__ void scatter_runs_kernel(const int32_t* sorted_ids, const int32_t* sorted_tok, const bf16* dout,
                                    float* dtable, int tokens, int vocab, int dim) {
  const int p = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (p >= tokens) return;
  const int id = sorted_ids[p];
  if (p > 0 && sorted_ids[p - 1] == id) return;  // not the start of a run
  if (id < 0 || id >= vocab) return;
  int end = p + 1;
  while (end < tokens && sorted_ids[end] == id) ++end;
  float* row = dtable + (long long)id * dim;
  for (int c = lane; c < dim; c += 32) {
    float acc = 0.f;
    for (int q = p; q < end; ++q) acc += __bfloat162float(dout[(long long)sorted_tok[q] * dim + c]);
    row[c] += acc;
  }
}

__global__ void iota_kernel(int32_t* v, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) v[i] = i;
}

template <typename T>
void forward(Context& ctx, const T* table, const int32_t* ids, bf16* out, int tokens, int vocab, int dim) {
  if (tokens < 0 || vocab <= 0 || dim <= 0)
    throw_usage("embedding_forward: invalid shape tokens {} vocab {} dim {}", tokens, vocab, dim);
  if (tokens == 0) return;
  gather_kernel<T><<<ceil_div(tokens, kWarps), kWarps * 32, 0, ctx.stream()>>>(table, ids, out, tokens, vocab, dim);
  MDS_CUDA_CHECK_LAUNCH("gather_kernel");
}

}  // namespace

void embedding_forward(Context& ctx, const float* table, const int32_t* ids, bf16* out, int tokens, int vocab,
                       int dim) {
  forward(ctx, table, ids, out, tokens, vocab, dim);
}
void embedding_forward(Context& ctx, const bf16* table, const int32_t* ids, bf16* out, int tokens, int vocab,
                       int dim) {
  forward(ctx, table, ids, out, tokens, vocab, dim);
}

void embedding_backward(Context& ctx, const int32_t* ids, const bf16* dout, float* dtable, int tokens, int vocab,
                        int dim) {
  if (tokens < 0 || vocab <= 0 || dim <= 0)
    throw_usage("embedding_backward: invalid shape tokens {} vocab {} dim {}", tokens, vocab, dim);
  if (tokens == 0) return;
  DeviceBuffer buf = ctx.alloc_n<int32_t>(size_t(3) * tokens);
  int32_t* tok_in = buf.as<int32_t>();
  int32_t* ids_out = tok_in + tokens;
  int32_t* tok_out = ids_out + tokens;
  iota_kernel<<<ceil_div(tokens, 256), 256, 0, ctx.stream()>>>(tok_in, tokens);
  MDS_CUDA_CHECK_LAUNCH("iota_kernel");
  size_t temp_bytes = 0;
  MDS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ids, ids_out, tok_in, tok_out, tokens, 0, 32,
                                                 ctx.stream()));
  DeviceBuffer temp = ctx.alloc(temp_bytes);
  MDS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, ids, ids_out, tok_in, tok_out, tokens, 0,
                                                 32, ctx.stream()));
  scatter_runs_kernel<<<ceil_div(tokens, kWarps), kWarps * 32, 0, ctx.stream()>>>(ids_out, tok_out, dout, dtable,
                                                                                 tokens, vocab, dim);
  MDS_CUDA_CHECK_LAUNCH("scatter_runs_kernel");
}

}  // namespace mds::cuda
