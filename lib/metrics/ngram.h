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

// Sum over ids of min(count in a, count in b); ids < alphabet. counts is scratch.
uint64_t clipped_overlap(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, size_t alphabet,
                         std::vector<uint32_t>& counts);

}  // namespace mds
