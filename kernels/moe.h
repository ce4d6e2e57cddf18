// Mixture-of-Experts routing on the GPU (docs/model.md, "The denoiser"): router softmax,
// top-k (1 or 2) with renormalised gates, Switch load-balancing and router
// z-losses, a deterministic counting sort of the token slots by expert with
// optional capacity, permutation of activations into expert order, gate-weighted
// un-permutation, and every backward. Nothing here waits for the host; the
// expert FFNs run on the permuted rows through grouped_gemm.h.
#pragma once

#include <cstdint>

#include "kernels/context.h"
#include "kernels/grouped_gemm.h"

namespace mds::cuda {

// Device state of one routed batch of `tokens` tokens. Slot (t, s), s < top_k,
// is index t*top_k + s of the [T, k] arrays.
class MoeRouting {
 public:
  // capacity_factor <= 0: dropless. Otherwise each expert keeps at most
  // ceil(top_k·tokens/experts·capacity_factor) slots (GShard's capacity counted
  // in assignments), first choices before second choices, each in token order.
  MoeRouting(Context& ctx, int tokens, int experts, int top_k, double capacity_factor);

  int tokens() const { return tokens_; }
  int experts() const { return experts_; }
  int top_k() const { return top_k_; }
  int capacity() const { return capacity_; }
  int rows_bound() const { return tokens_ * top_k_; }
  ExpertGroups groups() const;

  float* probs = nullptr;        // [T, E] router softmax
  float* lse = nullptr;          // [T] log-sum-exp of the router logits
  int32_t* expert = nullptr;     // [T, k] chosen experts; -1 for masked tokens
  float* gate = nullptr;         // [T, k] gate weights
  int32_t* position = nullptr;   // [T, k] row in the permuted buffers; -1 = masked or over capacity
  int32_t* row_slot = nullptr;   // [T·k] slot that permuted row r holds (rows < offsets[E])
  int32_t* counts = nullptr;     // [E] slots routed to each expert before capacity
  int32_t* offsets = nullptr;    // [E + 1] permuted rows of each expert (after capacity)
  int32_t* tile_offsets = nullptr;  // [E + 1] the same in 64-row tiles
  // [2E + 4]: f_i (fraction of valid tokens whose first choice is i), P_i (mean
  // router probability), balance loss, z-loss, valid token count, Σ lse².
  float* stats = nullptr;

  // Scratch of the counting sort.
  int32_t* local_rank = nullptr;    // [T·k]
  int32_t* chunk_counts = nullptr;  // [chunks, E]
  int32_t* chunk_base = nullptr;    // [chunks, E]
  int chunks() const { return chunks_; }

 private:
  DeviceBuffer buf_;
  int tokens_, experts_, top_k_, capacity_, chunks_;
};

// Router: probs = softmax(logits) ([T, E] fp32 logits, e.g. from gemm with an
// fp32 output), top-k by logit (ties to the lower index), gates = the chosen
// probabilities, renormalised to sum to 1 when top_k = 2 and `renormalize`
// (with top_k = 1 the gate is p_i, as Switch). Tokens with token_mask[t] = 0
// (mask may be null) are not routed.
void moe_route(Context& ctx, MoeRouting& r, const float* logits, const uint8_t* token_mask, bool renormalize);

// Counting sort of the slots by expert: counts, offsets, tile_offsets,
// position and row_slot.
void moe_dispatch(Context& ctx, MoeRouting& r);

// stats (see MoeRouting): balance = balance_coef·E·Σ f_i·P_i (Switch, Fedus et
// al. 2021, eq. 4), z = z_coef·mean_t(lse_t²) (ST-MoE, Zoph et al. 2022).
void moe_aux_losses(Context& ctx, MoeRouting& r, float balance_coef, float z_coef);

// x_perm[row] = x[token of row_slot[row]] for rows < offsets[E]; x is [T, H].
void moe_permute(Context& ctx, const MoeRouting& r, const bf16* x, int H, bf16* x_perm);
// y[t] = Σ_s gate[t, s]·y_perm[position[t, s]] (dropped slots add nothing).
void moe_unpermute(Context& ctx, const MoeRouting& r, const bf16* y_perm, int H, bf16* y);

// Backward of moe_unpermute: dy_perm[position[t,s]] = gate·dy[t] and
// dgate[t, s] = dy[t]·y_perm[position[t, s]] (0 when dropped); written, or
// added to with `accumulate`.
void moe_unpermute_backward(Context& ctx, const MoeRouting& r, const bf16* dy, const bf16* y_perm, int H,
                            bf16* dy_perm, float* dgate, bool accumulate = false);
// Backward of moe_permute: dx[t] (+)= Σ_s dx_perm[position[t, s]].
void moe_permute_backward(Context& ctx, const MoeRouting& r, const bf16* dx_perm, int H, bf16* dx, bool accumulate);

// Router backward: dlogits [T, E] (written, fp32) from the gate gradients and
// the auxiliary losses (balance_weight and z_weight are the loss coefficients
// times the caller's loss scale; f_i is treated as a constant, as Switch).
void moe_route_backward(Context& ctx, const MoeRouting& r, const float* dgate, bool renormalize,
                        float balance_weight, float z_weight, float* dlogits);

}  // namespace mds::cuda
