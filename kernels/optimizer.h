// Optimizer kernels on fp32 master weights: AdamW (optionally refreshing the
// bf16 compute copy in the same pass), EMA of the weights, and the global
// gradient norm used for clipping.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda {

struct AdamWHyper {
  float lr = 1e-4f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.f;
  int64_t step = 1;  // 1-based step count after this update (bias correction)
};

// PyTorch's AdamW (Loshchilov & Hutter, 2019; torch.optim.AdamW):
//   p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
//   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + eps).
// `param_bf16` (may be null) receives the updated weights rounded to bf16.
void adamw_step(Context& ctx, const AdamWHyper& hp, float* param, const float* grad, float* m, float* v,
                bf16* param_bf16, size_t n);

// ema ← decay·ema + (1 − decay)·param.
void ema_update(Context& ctx, float decay, const float* param, float* ema, size_t n);

// Σ x² in double, written to *out_device (one double). Non-finite values make
// the sum non-finite. Deterministic (fixed block partition and order).
void sum_squares(Context& ctx, const float* x, size_t n, double* out_device);

}  // namespace mds::cuda
