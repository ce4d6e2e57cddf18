// Element-wise operations on device tensors: activations (forward and
// backward), bias add and bias gradient, casts between fp32 and bf16, sums and
// scaling. Activations and bias adds are bf16 in and out with fp32 math.
#pragma once

#include <cstddef>

#include "kernels/context.h"

namespace mds::cuda {

enum class Activation { gelu, silu, tanh };

// y = f(x); x and y may alias.
void activation_forward(Context& ctx, Activation act, const bf16* x, bf16* y, size_t n);
// dx = dy · f'(x) (x is the activation's input), or dx += that with
// `accumulate`; dx may alias dy only without accumulate.
void activation_backward(Context& ctx, Activation act, const bf16* x, const bf16* dy, bf16* dx, size_t n,
                         bool accumulate = false);

// y[r, c] = x[r, c] + bias[c] for a rows × cols row-major tensor; x and y may alias.
void bias_add(Context& ctx, const bf16* x, const float* bias, bf16* y, int rows, int cols);
// dbias[c] += Σ_r dy[r, c] (deterministic two-stage reduction; accumulates).
void bias_grad(Context& ctx, const bf16* dy, float* dbias, int rows, int cols);

void cast_f32_to_bf16(Context& ctx, const float* x, bf16* y, size_t n);
void cast_bf16_to_f32(Context& ctx, const bf16* x, float* y, size_t n);
// y = a + b (bf16); y may alias a or b.
void add(Context& ctx, const bf16* a, const bf16* b, bf16* y, size_t n);
// y += alpha · x (fp32), e.g. accumulating a bf16 gradient into fp32 is cast + axpy.
void axpy(Context& ctx, float alpha, const float* x, float* y, size_t n);
// x *= alpha (fp32).
void scale(Context& ctx, float* x, float alpha, size_t n);
void fill(Context& ctx, float* x, float value, size_t n);
void fill(Context& ctx, bf16* x, float value, size_t n);

}  // namespace mds::cuda
