// Host defaults of the Denoiser's rounding and decode over its embedding table.
#include "sample/denoiser.h"

#include "sample/embedding_ops.h"

namespace mds {

void Denoiser::nearest_ids(const float* x, size_t n, int32_t* ids) const {
  const EmbeddingTable t{embedding().data(), nullptr, info().vocab_size, info().embed_dim};
  nearest_embedding_ids(t, x, n, ids);
}

void Denoiser::argmax_ids(const float* x, size_t n, int32_t* ids) const {
  const auto& bias = head_bias();
  const EmbeddingTable t{embedding().data(), bias.empty() ? nullptr : bias.data(), info().vocab_size, info().embed_dim};
  head_argmax_ids(t, x, n, ids);
}

}  // namespace mds
