// fp32 device kernels behind the CUDA implementation of mds::Backend
// (kernels/cuda_backend.cpp): the row-wise, elementwise, random, MoE-glue and
// loss helpers whose semantics are those of lib/cpu (forward overwrites,
// backward accumulates). The heavy operations (GEMM, attention, optimizer)
// use the other kernels of this folder.
#pragma once

#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda::bk {

// backend_pointwise.cu
void fill_f32(Context& ctx, float* x, float v, int64_t n);
void fill_i32(Context& ctx, int32_t* x, int32_t v, int64_t n);
void fill_u8(Context& ctx, uint8_t* x, uint8_t v, int64_t n);
void fill_u64(Context& ctx, uint64_t* x, uint64_t v, int64_t n);
void add(Context& ctx, const float* a, const float* b, float* y, int64_t n);
void axpy(Context& ctx, float alpha, const float* x, float* y, int64_t n);
void scale(Context& ctx, float* x, float alpha, int64_t n);
// act: 0 tanh, 1 silu, 2 gelu (erf form)
void activation_forward(Context& ctx, int act, const float* x, float* y, int64_t n);
// add: dx += dy·act'(x); otherwise dx is overwritten (and not read).
void activation_backward(Context& ctx, int act, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                         bool add);
// Rows ("groups") of d values to bf16 rows of dp >= d values, zero-padded, and
// back (overwriting or adding): attention heads widened to a kernel width.
void f32_to_bf16_padded(Context& ctx, const float* x, bf16* y, int64_t groups, int d, int dp);
void bf16_padded_to_f32(Context& ctx, const bf16* x, float* y, int64_t groups, int d, int dp, bool accumulate);
void add_bias_rows(Context& ctx, float* y, const float* b, int64_t rows, int64_t cols);
void add_column_sums(Context& ctx, const float* x, int64_t rows, int64_t cols, float* out);  // out += colsum

// backend_norm.cu
void layer_norm_forward(Context& ctx, const float* x, const float* g, const float* b, float eps, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols);
void layer_norm_backward(Context& ctx, const float* x, const float* g, const float* mean, const float* rstd,
                         const float* dy, float* dx, float* dg, float* db, int64_t rows, int64_t cols);
void softmax_forward(Context& ctx, const float* x, float* y, int64_t rows, int64_t cols);
void softmax_backward(Context& ctx, const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);
void row_sq_diff_forward(Context& ctx, const float* a, const float* b, float* out, int64_t rows, int64_t cols);
void row_sq_diff_backward(Context& ctx, const float* a, const float* b, const float* drow, float* da, float* db,
                          int64_t rows, int64_t cols);

// backend_rows.cu
// Sets the fault word (fault.h) when an index is outside [0, bound); `code`
// names the operation. Indices are not read by the host.
void check_index_range(Context& ctx, const int32_t* idx, int64_t n, int64_t bound, int code, int64_t* fault);
// The same for cross-entropy targets of rows whose weight is not zero.
void check_targets(Context& ctx, const int32_t* tgt, const float* w, int64_t n, int64_t vocab, int code,
                   int64_t* fault);
void gather_rows(Context& ctx, const float* x, const int32_t* idx, float* out, int64_t S, int64_t C);
void scatter_add_rows(Context& ctx, const float* dout, const int32_t* idx, float* dx, int64_t S, int64_t C);
void add_position_time_forward(Context& ctx, const float* x, const float* pos, const float* temb, int B, int L,
                               int64_t H, float* out);
void add_position_time_backward(Context& ctx, const float* dout, int B, int L, int64_t H, float* dpos, float* dtemb);
void row_combine_forward(Context& ctx, const float* x, const float* ax, const float* m, const float* am,
                         const float* e, const float* ae, float* out, int64_t R, int64_t C);
void row_combine_backward(Context& ctx, const float* dout, const float* ax, const float* am, const float* ae,
                          float* dx, float* dm, float* de, int64_t R, int64_t C);

// backend_random.cu: the counter stream of backend/rng.h, bit for bit.
void gaussian_fill(Context& ctx, const uint64_t* keys, uint64_t salt, float* out, int64_t R, int64_t C);
void dropout_forward(Context& ctx, const float* x, double p, const uint64_t* keys, uint64_t salt, float* y,
                     uint8_t* mask, int64_t R, int64_t C);
void dropout_backward(Context& ctx, const float* dy, const uint8_t* mask, float scale, float* dx, int64_t n);

// backend_moe.cu
void topk_gates_forward(Context& ctx, const float* probs, int64_t N, int E, int k, bool renorm, int32_t* idx,
                        float* gates);
void topk_gates_backward(Context& ctx, const float* probs, const int32_t* idx, int64_t N, int E, int k, bool renorm,
                         const float* dgates, float* dprobs);
// slot_of[n*k+c] = slot (or -1) from slot_choice.
void slot_of_choice(Context& ctx, const int32_t* slot_choice, int64_t slots, int32_t* slot_of, int64_t nk);
void moe_combine_forward(Context& ctx, const float* yp, const float* gates, const int32_t* slot_of, int64_t N, int k,
                         int64_t C, float* out);
void moe_combine_backward(Context& ctx, const float* yp, const float* gates, const int32_t* slot_token,
                          const int32_t* slot_choice, int64_t slots, int64_t C, const float* dout, float* dyp,
                          float* dgates);
// Token-to-expert dispatch on the device, in the CPU routine's exact order
// (lib/cpu/moe_dispatch.cpp): picks of valid tokens, first choices of all
// tokens before second choices (GShard priority) for the capacity, then slots
// grouped by expert in token order. One block; `scratch` holds 2 * 1024 * E
// int32. Writes slot_token / slot_choice [N*k] (the first `slots` used) and
// info [3E + 3] int64: offsets [E+1], assigned [E], top1 [E], dropped, routed.
// A pick outside [0, E) of a valid token sets the fault word (see fault.h).
void moe_dispatch_slots(Context& ctx, const int32_t* idx, const uint8_t* valid, int64_t N, int k, int E,
                        int64_t capacity, int32_t* slot_token, int32_t* slot_choice, int32_t* scratch, int64_t* info,
                        int64_t* fault);
// Router statistics over valid rows: out[e] = sum_n probs[n,e] (e < E) and
// out[E] = sum_n lse(logits[n])^2, in double, in a fixed order (deterministic).
void router_sums(Context& ctx, const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                 double* out);
void router_aux_backward(Context& ctx, const float* logits, const float* probs, const uint8_t* valid, int64_t N, int E,
                         const float* frac_scaled, double z_scale, float* dlogits, float* dprobs);

// backend_loss.cu: per-row helpers of the blocked tied cross-entropy and rounding.
// logits[R,V] (+bias) -> nll rows (w != 0) and, for backward, G = w*(softmax - onehot) in place.
void ce_rows_forward(Context& ctx, float* logits, const float* bias, const int32_t* tgt, const float* w, int64_t R,
                     int64_t V, float* nll);
void ce_rows_grad(Context& ctx, float* logits, const float* bias, const int32_t* tgt, const float* w, int64_t R,
                  int64_t V);
// ids[r] = argmax_v (scores[r,v] + offset[v]) (offset may be null), ties to the lower index.
void argmax_rows(Context& ctx, const float* scores, const float* offset, int64_t R, int64_t V, int32_t* ids);
void neg_row_norms(Context& ctx, const float* E, int64_t V, int64_t d, float* out);  // out[v] = -||E_v||^2

}  // namespace mds::cuda::bk
