// Rounding predicted embeddings to token ids against the word embedding
// (sampling): argmax of the tied logits h·E_v + b_v, or the nearest embedding
// row (DiffuSeq's clamping, argmin ‖E_v − h‖²). The vocabulary is scanned in
// shared-memory tiles; no [tokens, vocab] matrix is stored.
#pragma once

#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda {

enum class RoundingMode { argmax_logits, nearest };

// ids[t] = argmax_v (h_t·E_v + c_v), ties to the lower index, where c_v is
// bias[v] (argmax_logits; bias may be null) or −½‖E_v‖² (nearest, since
// ‖E_v − h‖² = ‖h‖² − 2(h·E_v − ½‖E_v‖²)). h is [tokens, ld_h] bf16, emb
// [vocab, dim] bf16 contiguous, dim in {32, 64, 128}.
void rounding_ids(Context& ctx, RoundingMode mode, const bf16* h, long long ld_h, const bf16* emb, const float* bias,
                  int tokens, int vocab, int dim, int32_t* ids);

}  // namespace mds::cuda
