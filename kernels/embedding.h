// Embedding lookup (gather) and its gradient (scatter-add) on the GPU.
#pragma once

#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda {

// out[t, :] = table[ids[t], :] for t < tokens; table is vocab × dim (fp32
// master weights or their bf16 copy); ids outside [0, vocab) give zero rows.
void embedding_forward(Context& ctx, const float* table, const int32_t* ids, bf16* out, int tokens, int vocab,
                       int dim);
void embedding_forward(Context& ctx, const bf16* table, const int32_t* ids, bf16* out, int tokens, int vocab, int dim);

// dtable[ids[t], :] += dout[t, :] (fp32). Deterministic: token indices are
// radix-sorted by id and each id's rows are summed in token order by one warp.
// ids outside [0, vocab) are skipped.
void embedding_backward(Context& ctx, const int32_t* ids, const bf16* dout, float* dtable, int tokens, int vocab,
                        int dim);

}  // namespace mds::cuda
