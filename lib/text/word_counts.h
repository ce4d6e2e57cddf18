// Frequency table of pre-token "words" for BPE training: an open-addressing
// hash table whose keys live in one byte arena (no allocation per word).
// Each training thread fills its own table; the tables are then merged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mds {

class WordCounts {
 public:
  WordCounts();

  void add(std::string_view word, uint64_t count = 1);
  // Pre-tokenizes text (text/pretokenizer.h) and counts every piece.
  void add_text(std::string_view text);
  void merge_from(const WordCounts& other);

  size_t unique() const { return size_; }
  uint64_t total() const { return total_; }
  // Bytes of all distinct words together.
  size_t arena_bytes() const { return arena_.size(); }

  // Calls fn(std::string_view word, uint64_t count) for every distinct word,
  // in an unspecified order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.count) fn(std::string_view(arena_).substr(s.offset, s.length), s.count);
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t offset = 0;
    uint32_t length = 0;
    uint64_t count = 0;  // 0 = empty slot
  };
  void grow();

  std::vector<Slot> slots_;
  std::string arena_;
  size_t size_ = 0;
  uint64_t total_ = 0;
};

// A fast non-cryptographic 64-bit hash of a byte string (multiply-xorshift
// over 8-byte words), used for hash tables.
uint64_t hash_bytes(std::string_view s);

}  // namespace mds
