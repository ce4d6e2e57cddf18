// Grouped (per-expert) linear layers over rows permuted by expert, with the
// group sizes read on the device: no host round trip per expert. Expert e owns
// rows [offsets[e], offsets[e+1]) of the permuted buffers and weights
// W[e] (N × K, row-major, bf16 copy of the fp32 master weights).
#pragma once

#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda {

struct ExpertGroups {
  int experts = 0;
  int rows_bound = 0;   // an upper bound on offsets[experts] (allocation size of the permuted buffers)
  int tile_bound = 0;   // an upper bound on tile_offsets[experts]
  const int32_t* offsets = nullptr;       // device [experts + 1], row offsets
  const int32_t* tile_offsets = nullptr;  // device [experts + 1], offsets in 64-row tiles
};

// Y[r, n] = Σ_k X[r, k]·W[e, n, k] + bias[e, n] (bias may be null). With
// `gelu`, pre[r, n] receives that value and Y = GELU(pre). N and K must be
// multiples of 8; X, W, Y, pre 16-byte aligned.
void grouped_linear_forward(Context& ctx, const ExpertGroups& g, const bf16* X, const bf16* W, const float* bias,
                            int N, int K, bool gelu, bf16* Y, bf16* pre);

// dX[r, k] = Σ_n dY[r, n]·W[e, n, k], multiplied by GELU'(pre[r, k]) when pre
// is not null (pre: the pre-activation whose GELU was this layer's input);
// written, or added to with `accumulate`.
void grouped_linear_backward_data(Context& ctx, const ExpertGroups& g, const bf16* dY, const bf16* W, int N, int K,
                                  const bf16* pre, bf16* dX, bool accumulate = false);

// dW[e, n, k] += Σ_r dY[r, n]·X[r, k] and, if dbias is not null,
// dbias[e, n] += Σ_r dY[r, n] (fp32, accumulated, deterministic).
void grouped_linear_backward_weight(Context& ctx, const ExpertGroups& g, const bf16* dY, const bf16* X, int N, int K,
                                    float* dW, float* dbias);

}  // namespace mds::cuda
