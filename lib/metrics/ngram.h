// Exact n-gram identities for the n-gram metrics (ROUGE-N, BLEU, chrF++,
// distinct-n): an n-gram gets a dense id by interning the pair
// (id of its first n-1 tokens, id of its last token), order by order, so no
// hashing collision can ever merge two different n-grams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mds {

// Open-addressing map from 64-bit keys to dense ids 0, 1, 2, ...
class PairInterner {
 public:
  void clear();
  uint32_t intern(uint64_t key);
  size_t size() const { return count_; }

 private:
  void grow();
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;  // id + 1; 0 = empty
  size_t count_ = 0;
};

// Given the ids of (n-1)-grams starting at each position of a sequence
// (prev, length L-n+2) and the token ids (tokens, length L), writes the ids of
// the n-grams (length L-n+1) to out, interning through in.
void extend_ngrams(const std::vector<uint32_t>& prev, const uint32_t* tokens, size_t len, size_t n,
                   PairInterner& in, std::vector<uint32_t>& out);

// The n-gram ids of a hypothesis and its references, order by order, in one
// id space per order so that counts compare across them (BLEU, nltk's BLEU).
// Order 1 gives the tokens dense ids (so counting arrays stay small); each
// next_order() re-interns the n-grams of the next order.
class NgramOrders {
 public:
  // Starts a segment at order 1 with the hypothesis' tokens; then add_ref
  // for each reference, in order. The token vectors must stay alive and
  // unchanged while the orders are walked.
  void start(const std::vector<uint32_t>& hyp);
  void add_ref(const std::vector<uint32_t>& ref);
  // From order n - 1 to order n (n >= 2).
  void next_order(size_t n);

  const std::vector<uint32_t>& hyp() const { return hyp_; }
  const std::vector<uint32_t>& ref(size_t r) const { return ref_[r]; }
  size_t refs() const { return ref_tokens_.size(); }
  // Distinct ids of the current order (ids are below this).
  size_t alphabet() const { return interner_.size(); }

 private:
  PairInterner interner_;
  const std::vector<uint32_t>* hyp_tokens_ = nullptr;
  std::vector<const std::vector<uint32_t>*> ref_tokens_;
  std::vector<uint32_t> hyp_, hyp_ng_;
  std::vector<std::vector<uint32_t>> ref_, ref_ng_;
};

// Sum over ids of min(count in a, count in b); ids < alphabet. counts is scratch.
uint64_t clipped_overlap(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, size_t alphabet,
                         std::vector<uint32_t>& counts);

}  // namespace mds
