// Fused rounding cross-entropy against the tied word embedding (DiffuSeq's
// rounding loss): logits[t, v] = h_t · E_v + bias_v over the whole vocabulary,
// nll_t = logsumexp_v(logits[t]) − logits[t, target_t]. The logits are never
// stored in device memory: 64×64 tiles are formed in shared memory and folded
// into an online log-sum-exp (forward) or straight into the gradients
// (backward).
#pragma once

#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda {

struct RoundingCeArgs {
  const bf16* h = nullptr;         // [tokens, ld_h], first `dim` columns used
  long long ld_h = 0;
  const bf16* emb = nullptr;       // [vocab, dim], contiguous (bf16 compute copy)
  const float* bias = nullptr;     // [vocab] or null (DiffuSeq's lm_head keeps a bias)
  const int32_t* targets = nullptr;  // [tokens]; outside [0, vocab) = ignored (nll 0, no gradient)
  int tokens = 0, vocab = 0, dim = 0;  // dim in {32, 64, 128}
};

// Writes nll [tokens] and lse [tokens] (fp32); lse is kept for the backward.
void rounding_ce_forward(Context& ctx, const RoundingCeArgs& args, float* nll, float* lse);

// grad [tokens] is dLoss/dnll_t. Writes dh [tokens, dim] (bf16, contiguous;
// added to with `accumulate_dh`); accumulates (+=) demb [vocab, dim] and,
// when not null, dbias [vocab] (fp32).
void rounding_ce_backward(Context& ctx, const RoundingCeArgs& args, const float* lse, const float* grad, bf16* dh,
                          float* demb, float* dbias, bool accumulate_dh = false);

}  // namespace mds::cuda
