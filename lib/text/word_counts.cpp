// Word frequency table (word_counts.h).
#include "text/word_counts.h"

#include <cstring>

#include "core/splitmix.h"
#include "text/pretokenizer.h"

namespace mds {

uint64_t hash_bytes(std::string_view s) {
  // SplitMix64's finaliser (core/splitmix.h) after each 8-byte word.
  const auto mix = splitmix64_finalize;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = mix(h ^ w);
  }
  uint64_t tail = 0;
  if (i < s.size()) std::memcpy(&tail, s.data() + i, s.size() - i);
  return mix(h ^ tail ^ 0x2545F4914F6CDD1Dull);
}

WordCounts::WordCounts() : slots_(1024) {}

void WordCounts::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (!s.count) continue;
    size_t i = s.hash & mask;
    while (slots_[i].count) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void WordCounts::add(std::string_view word, uint64_t count) {
  if (count == 0) return;
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(word);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (!s.count) {
      s.hash = h;
      s.offset = arena_.size();
      s.length = static_cast<uint32_t>(word.size());
      s.count = count;
      arena_.append(word);
      ++size_;
      break;
    }
    if (s.hash == h && s.length == word.size() && std::memcmp(arena_.data() + s.offset, word.data(), word.size()) == 0) {
      s.count += count;
      break;
    }
  }
  total_ += count;
}

void WordCounts::add_text(std::string_view text) {
  for_each_pretoken(text, [this](std::string_view piece) { add(piece); });
}

void WordCounts::merge_from(const WordCounts& other) {
  other.for_each([this](std::string_view w, uint64_t c) { add(w, c); });
}

}  // namespace mds
