// Row softmax over the last dimension, forward and backward, in fp32 or bf16
// (fp32 math either way).
#pragma once

#include "kernels/context.h"

namespace mds::cuda {

// y = softmax(x) per row of a rows × cols tensor; x and y may alias.
void softmax_forward(Context& ctx, const float* x, float* y, int rows, int cols);
void softmax_forward(Context& ctx, const bf16* x, bf16* y, int rows, int cols);
// dx = y ∘ (dy - Σ_c y·dy), or dx += that with `accumulate`; dx may alias dy
// only without accumulate.
void softmax_backward(Context& ctx, const float* y, const float* dy, float* dx, int rows, int cols,
                      bool accumulate = false);
void softmax_backward(Context& ctx, const bf16* y, const bf16* dy, bf16* dx, int rows, int cols,
                      bool accumulate = false);

}  // namespace mds::cuda
