// n-gram interning and overlap counting (see ngram.h).
#include "metrics/ngram.h"

#include <algorithm>

#include "core/murmur_mix.h"

namespace mds {

namespace {
inline size_t mix(uint64_t k) { return static_cast<size_t>(murmur3_fmix64(k)); }
}  // namespace

void PairInterner::clear() {
  if (keys_.empty()) {
    keys_.assign(1024, 0);
    vals_.assign(1024, 0);
  } else {
    std::fill(vals_.begin(), vals_.end(), 0);
  }
  count_ = 0;
}

void PairInterner::grow() {
  std::vector<uint64_t> ok;
  std::vector<uint32_t> ov;
  ok.swap(keys_);
  ov.swap(vals_);
  size_t cap = ok.empty() ? 1024 : ok.size() * 2;
  keys_.assign(cap, 0);
  vals_.assign(cap, 0);
  for (size_t i = 0; i < ok.size(); ++i) {
    if (!ov[i]) continue;
    size_t h = mix(ok[i]) & (cap - 1);
    while (vals_[h]) h = (h + 1) & (cap - 1);
    keys_[h] = ok[i];
    vals_[h] = ov[i];
  }
}

uint32_t PairInterner::intern(uint64_t key) {
  if (keys_.empty() || (count_ + 1) * 2 > keys_.size()) grow();
  size_t mask = keys_.size() - 1;
  size_t h = mix(key) & mask;
  while (vals_[h]) {
    if (keys_[h] == key) return vals_[h] - 1;
    h = (h + 1) & mask;
  }
  keys_[h] = key;
  vals_[h] = static_cast<uint32_t>(++count_);
  return vals_[h] - 1;
}

void extend_ngrams(const std::vector<uint32_t>& prev, const uint32_t* tokens, size_t len, size_t n,
                   PairInterner& in, std::vector<uint32_t>& out) {
  out.clear();
  if (len < n) return;
  out.reserve(len - n + 1);
  for (size_t i = 0; i + n <= len; ++i)
    out.push_back(in.intern((uint64_t(prev[i]) << 32) | tokens[i + n - 1]));
}

void NgramOrders::start(const std::vector<uint32_t>& hyp) {
  interner_.clear();
  hyp_tokens_ = &hyp;
  ref_tokens_.clear();
  hyp_.resize(hyp.size());
  for (size_t i = 0; i < hyp.size(); ++i) hyp_[i] = interner_.intern(hyp[i]);
}

void NgramOrders::add_ref(const std::vector<uint32_t>& ref) {
  const size_t r = ref_tokens_.size();
  ref_tokens_.push_back(&ref);
  if (ref_.size() <= r) ref_.resize(r + 1), ref_ng_.resize(r + 1);
  ref_[r].resize(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) ref_[r][i] = interner_.intern(ref[i]);
}

void NgramOrders::next_order(size_t n) {
  interner_.clear();
  extend_ngrams(hyp_, hyp_tokens_->data(), hyp_tokens_->size(), n, interner_, hyp_ng_);
  hyp_.swap(hyp_ng_);
  for (size_t r = 0; r < ref_tokens_.size(); ++r) {
    extend_ngrams(ref_[r], ref_tokens_[r]->data(), ref_tokens_[r]->size(), n, interner_, ref_ng_[r]);
    ref_[r].swap(ref_ng_[r]);
  }
}

uint64_t clipped_overlap(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, size_t alphabet,
                         std::vector<uint32_t>& counts) {
  if (a.empty() || b.empty()) return 0;
  counts.assign(alphabet, 0);
  for (uint32_t x : a) ++counts[x];
  uint64_t overlap = 0;
  for (uint32_t x : b) {
    if (counts[x]) {
      --counts[x];
      ++overlap;
    }
  }
  return overlap;
}

}  // namespace mds
