// A per-thread memo of word -> ids in front of Tokenizer::encode_word. Natural
// text repeats a small set of words, so most pre-tokens skip BPE entirely.
// Not thread-safe: give each thread its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace mds {

class CachingEncoder {
 public:
  // Words longer than kMaxWordBytes are never cached; the cache is emptied
  // when it holds max_entries words (a bound on memory, not an LRU).
  static constexpr size_t kMaxWordBytes = 32;

  // The default keeps the table (2 slots per entry, 16 bytes each) near 1 MiB
  // so lookups stay in the L2 cache.
  explicit CachingEncoder(const Tokenizer& tok, size_t max_entries = size_t{1} << 15);

  // Same result as tok.encode_append(text, out).
  void encode_append(std::string_view text, std::vector<uint32_t>& out);
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Slot {
    uint32_t tag = 0;      // high half of the word's hash
    uint32_t key_off = 0;  // into keys_
    uint32_t ids_off = 0;  // into ids_
    uint8_t key_len = 0;   // 0 = empty slot (words of 2..32 bytes are cached)
    uint8_t ids_len = 0;
  };
  void encode_word(std::string_view word, std::vector<uint32_t>& out);
  void clear();

  const Tokenizer& tok_;
  size_t max_entries_;
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<uint32_t> ids_;
  size_t size_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace mds
