// Length-bucketed batch planning (see batch_plan.h).
#include "train/batch_plan.h"

#include <algorithm>

#include "core/error.h"
#include "train/rng.h"

namespace mds::train {

int64_t packed_length(size_t src_len, const BatchingOptions& o) {
  int64_t s = static_cast<int64_t>(src_len);
  if (o.max_src_len > 0) s = std::min(s, o.max_src_len);
  return s + 2 + o.max_trg_len + 1;
}

namespace {

template <typename T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);  // Fisher-Yates
}

// Sorts ids[b, e) by packed length (stable, so ties keep the shuffled order)
// and appends batches cut greedily to `out`.
void cut_batches(const Dataset& d, const BatchingOptions& o, std::vector<uint64_t>& ids, size_t b, size_t e,
                 BatchPlan& out) {
  std::vector<std::pair<int64_t, uint64_t>> keyed;
  keyed.reserve(e - b);
  for (size_t i = b; i < e; ++i) keyed.emplace_back(packed_length(d.src(ids[i]).size, o), ids[i]);
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<uint64_t> cur;
  int64_t cur_max = 0;
  for (const auto& [len, id] : keyed) {
    const int64_t new_max = std::max(cur_max, len);
    const bool full = static_cast<int64_t>(cur.size()) >= o.batch_size ||
                      (o.max_batch_tokens > 0 && !cur.empty() &&
                       new_max * static_cast<int64_t>(cur.size() + 1) > o.max_batch_tokens);
    if (full) {
      out.push_back(std::move(cur));
      cur.clear();
      cur_max = 0;
    }
    cur.push_back(id);
    cur_max = std::max(cur_max, len);
  }
  if (!cur.empty()) out.push_back(std::move(cur));
}

BatchPlan plan(const Dataset& d, const BatchingOptions& o, int64_t epoch, bool randomize) {
  if (o.batch_size < 1) throw_usage("batch size must be >= 1, found {}", o.batch_size);
  std::vector<uint64_t> ids(d.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  if (randomize) {
    Rng rng(derive_seed(o.seed, Stream::epoch_order, static_cast<uint64_t>(epoch)));
    shuffle(ids, rng);
  }
  BatchPlan out;
  const size_t pool = randomize && o.bucket_pool > 0 ? static_cast<size_t>(o.bucket_pool * o.batch_size) : ids.size();
  for (size_t b = 0; b < ids.size(); b += pool) cut_batches(d, o, ids, b, std::min(ids.size(), b + pool), out);
  if (randomize) {
    Rng rng(derive_seed(o.seed, Stream::batch_order, static_cast<uint64_t>(epoch)));
    shuffle(out, rng);
  }
  return out;
}

}  // namespace

BatchPlan plan_epoch(const Dataset& data, const BatchingOptions& o, int64_t epoch) {
  return plan(data, o, epoch, o.shuffle);
}

BatchPlan plan_in_order(const Dataset& data, const BatchingOptions& o) { return plan(data, o, 0, false); }

BatchStream::BatchStream(const Dataset& data, BatchingOptions o, DataPosition start)
    : data_(data), opt_(o), pos_(start) {
  if (data_.empty()) throw_bad_input("{}: no training pairs", data_.name.empty() ? "training data" : data_.name);
  plan_ = plan_epoch(data_, opt_, pos_.epoch);
  plan_epoch_ = pos_.epoch;
  if (pos_.batch < 0 || pos_.batch > batches_per_epoch())
    throw_bad_input("data position batch {} of epoch {} is outside the epoch's {} batches", pos_.batch, pos_.epoch,
                    batches_per_epoch());
}

std::vector<uint64_t> BatchStream::next() {
  if (pos_.batch >= batches_per_epoch()) {
    ++pos_.epoch;
    pos_.batch = 0;
  }
  if (plan_epoch_ != pos_.epoch) {
    plan_ = plan_epoch(data_, opt_, pos_.epoch);
    plan_epoch_ = pos_.epoch;
  }
  return plan_[pos_.batch++];
}

}  // namespace mds::train
