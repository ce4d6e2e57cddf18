// Interning of token strings to small integer ids, with a cache of Porter
// stems, so that the metrics compare integers instead of strings. An
// open-addressing table over one byte arena keeps a lookup to about two
// cache lines. One vocab belongs to one worker thread (no sharing, no locks).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mds {

class TokenVocab {
 public:
  TokenVocab();
  // Id of token (interned on first sight).
  uint32_t id(std::string_view token);
  // Id of porter_stem(token), cached per distinct token.
  uint32_t stemmed_id(std::string_view token);
  // The string of an id.
  std::string_view str(uint32_t id) const;
  size_t size() const { return count_; }
  // Forgets everything once the vocabulary exceeds limit entries. Ids are only
  // compared within one example, so callers may reset between examples.
  void reset_if_larger_than(size_t limit);

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  struct Slot {
    uint64_t hash;
    uint64_t head;  // first 8 bytes of the token (zero padded): most tokens compare here
    uint32_t offset, length;
    uint32_t id;    // kNone: empty slot
    uint32_t stem;  // id of the stem, kNone until computed
  };
  Slot& lookup(std::string_view token);  // finds or inserts
  void grow();
  std::vector<Slot> slots_;
  std::vector<uint32_t> slot_of_id_;
  std::string arena_;
  size_t count_ = 0;
};

}  // namespace mds
