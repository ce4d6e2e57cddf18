// Mean squared error per row (the diffusion x0 loss) and its gradient.
#pragma once

#include "kernels/context.h"

namespace mds::cuda {

// loss[r] = (1/cols) Σ_c (a[r,c] - b[r,c])², fp32 per row.
void mse_forward(Context& ctx, const bf16* a, const bf16* b, float* loss, int rows, int cols);
void mse_forward(Context& ctx, const float* a, const float* b, float* loss, int rows, int cols);
// da = grad[r] · 2(a - b)/cols and db = -da (when db is not null); written,
// or added to with `accumulate`.
void mse_backward(Context& ctx, const bf16* a, const bf16* b, const float* grad, bf16* da, bf16* db, int rows,
                  int cols, bool accumulate = false);
void mse_backward(Context& ctx, const float* a, const float* b, const float* grad, float* da, float* db, int rows,
                  int cols, bool accumulate = false);

}  // namespace mds::cuda
