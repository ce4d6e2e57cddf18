// Layer normalisation over the last dimension: bf16 activations, fp32 gamma,
// beta and statistics. Forward saves mean and 1/std per row for the backward.
#pragma once

#include "kernels/context.h"

namespace mds::cuda {

// y = (x - mean) * rstd * gamma + beta, per row of a rows × cols tensor.
// mean and rstd ([rows], fp32) are written for the backward.
void layernorm_forward(Context& ctx, const bf16* x, const float* gamma, const float* beta, bf16* y, float* mean,
                       float* rstd, int rows, int cols, float eps);

// dx from dy (written, or added to with `accumulate`; dx must not alias dy
// then); dgamma and dbeta are accumulated (+=), deterministically.
void layernorm_backward(Context& ctx, const bf16* x, const float* gamma, const float* mean, const float* rstd,
                        const bf16* dy, bf16* dx, float* dgamma, float* dbeta, int rows, int cols,
                        bool accumulate = false);

}  // namespace mds::cuda
