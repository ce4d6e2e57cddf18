// Packing token-id pairs into the model's batch layout (docs/design.md §4):
// [CLS] src [SEP] | trg [SEP] [PAD]... with a target region of exactly
// max_trg_len + 1 slots, so the model generates the padding (its length).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/trainable.h"

namespace mds {

// One example's ids without special tokens (truncated by the tokenizer).
struct PairIds {
  std::vector<int32_t> src;
  std::vector<int32_t> trg;  // empty when sampling
};

// Throws bad_input (naming the example id) when a side exceeds its limit or an
// id is outside [0, vocab_size) (vocab_size 0 skips the id check).
Batch pack_batch(const std::vector<PairIds>& records, const ModelConfig& config,
                 const std::vector<uint64_t>& example_ids);

// Length of a packed example: src_len + 2 + max_trg_len + 1.
int packed_length(int src_len, const ModelConfig& config);

// Position of the first target slot of example b (its source length + 2).
int target_start(const Batch& batch, int b);

// Checks the invariants the model relies on; throws bad_input naming the problem.
void check_batch(const Batch& batch, const ModelConfig& config);

// The per-example global token positions: [CLS], the source [SEP], and the
// optional ranges of the config (target region, strided source tokens).
std::vector<std::vector<int32_t>> global_positions(const Batch& batch, const ModelConfig& config);

// The attention pattern tables of a batch, uploaded to the backend.
AttentionPattern make_attention_pattern(Backend& backend, const Batch& batch, const ModelConfig& config);

}  // namespace mds
