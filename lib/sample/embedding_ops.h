// Operations against the tied embedding table that the samplers run on the
// host: DiffuSeq's rounding of x0 to the nearest word embedding ("clamping")
// and the final argmax decode through the rounding head.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mds {

struct EmbeddingTable {
  const float* weight = nullptr;  // [V, d] row-major
  const float* bias = nullptr;    // [V] or nullptr
  int vocab = 0, dim = 0;
};

// For each of the n vectors x[i, :d], the id of the L2-nearest embedding row:
// argmin_v ||E_v||^2 - 2 <E_v, x_i> (the ||x||^2 term is constant), as
// DiffuSeq's denoised_fn_round. Ties go to the lowest id.
void nearest_embedding_ids(const EmbeddingTable& table, const float* x, size_t n, int32_t* ids);

// For each x_i, argmax_v <E_v, x_i> + b_v: the logits argmax of the tied
// rounding head. Ties go to the lowest id.
void head_argmax_ids(const EmbeddingTable& table, const float* x, size_t n, int32_t* ids);

}  // namespace mds
