// Deterministic, seedable batching bucketed by source length. An epoch is
// planned from (seed, epoch) alone: shuffle the example ids, cut them into
// pools of `bucket_pool` batches, sort each pool by source length, cut the
// pools into batches (at most batch_size examples and, if set, at most
// max_batch_tokens = B x L), then shuffle the order of the batches. Short
// sources thus share batches with short sources (docs/design.md §4) while the
// composition still changes from epoch to epoch. A data position is
// (epoch, batch index), so resuming needs no saved order.
#pragma once

#include <cstdint>
#include <vector>

#include "train/dataset.h"

namespace mds::train {

struct BatchingOptions {
  int64_t batch_size = 64;
  int64_t max_batch_tokens = 0;  // 0 = no cap
  int64_t bucket_pool = 100;     // 0 = sort the whole epoch
  bool shuffle = true;
  uint64_t seed = 0;
  int64_t max_src_len = 0;       // source tokens kept by the packer (0 = all)
  int64_t max_trg_len = 0;       // target slots of every example
};

// Packed length of an example with this many source tokens, per the layout
// [CLS] src [SEP] trg-region(max_trg_len + 1) of lib/model/trainable.h.
int64_t packed_length(size_t src_len, const BatchingOptions& o);

using BatchPlan = std::vector<std::vector<uint64_t>>;  // batches of example ids

// The training batches of one epoch.
BatchPlan plan_epoch(const Dataset& data, const BatchingOptions& o, int64_t epoch);
// Validation batches: sorted by source length, no shuffling (same every call).
BatchPlan plan_in_order(const Dataset& data, const BatchingOptions& o);

// Where the trainer is in the data: the next batch to use is plan(epoch)[batch].
struct DataPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
};

// Walks the epochs of a dataset, re-planning at each epoch boundary.
class BatchStream {
 public:
  BatchStream(const Dataset& data, BatchingOptions o, DataPosition start = {});
  // Ids of the next batch; advances the position.
  std::vector<uint64_t> next();
  DataPosition position() const { return pos_; }
  int64_t batches_per_epoch() const { return static_cast<int64_t>(plan_.size()); }

 private:
  const Dataset& data_;
  BatchingOptions opt_;
  DataPosition pos_;
  BatchPlan plan_;
  int64_t plan_epoch_ = -1;
};

}  // namespace mds::train
