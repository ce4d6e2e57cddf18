// A small open-addressing hash map from 64-bit keys to 32-bit values, used for
// BPE pair tables (pair (a, b) packed as a << 32 | b). std::unordered_map costs
// a pointer chase per lookup; this keeps keys and values in one flat array.
#pragma once

#include <cstdint>
#include <vector>

namespace mds {

class FlatU64Map {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // never a valid packed pair
  static constexpr uint32_t kMissing = ~uint32_t{0};

  explicit FlatU64Map(size_t expected = 16) { rehash(capacity_for(expected)); }

  static uint64_t pack(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }

  uint32_t find(uint64_t key) const {
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return s.value;
      if (s.key == kEmpty) return kMissing;
    }
  }

  // Returns a reference to the value for key, inserting `init` if absent.
  uint32_t& find_or_insert(uint64_t key, uint32_t init) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == key) return s.value;
      if (s.key == kEmpty) {
        s.key = key;
        s.value = init;
        ++size_;
        return s.value;
      }
    }
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = kEmpty;
    uint32_t value = 0;
  };
  static size_t capacity_for(size_t n) {
    size_t c = 16;
    while (c < n * 2) c *= 2;
    return c;
  }
  size_t slot_of(uint64_t key) const {
    // Fibonacci hashing: multiply by 2^64 / golden ratio, keep the top bits.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void rehash(size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != kEmpty) find_or_insert(s.key, s.value);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

}  // namespace mds
