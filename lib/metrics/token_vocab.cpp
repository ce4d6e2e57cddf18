// TokenVocab: string -> id interning and the stem cache (see token_vocab.h).
#include "metrics/token_vocab.h"

#include <cstring>

#include "core/murmur_mix.h"
#include "metrics/porter.h"

namespace mds {

namespace {

// A fast 64-bit string hash: 8 bytes at a time, murmur3's finalizer at the end.
inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ murmur3_fmix64(w)) * 0x9E3779B97F4A7C15ULL;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  h ^= w * 0xC2B2AE3D27D4EB4FULL;
  return murmur3_fmix64(h);
}

}  // namespace

TokenVocab::TokenVocab() { slots_.assign(1024, Slot{0, 0, 0, 0, kNone, kNone}); }

void TokenVocab::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.size() * 2, Slot{0, 0, 0, 0, kNone, kNone});
  size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.id == kNone) continue;
    size_t h = s.hash & mask;
    while (slots_[h].id != kNone) h = (h + 1) & mask;
    slots_[h] = s;
    slot_of_id_[s.id] = static_cast<uint32_t>(h);
  }
}

TokenVocab::Slot& TokenVocab::lookup(std::string_view token) {
  uint64_t hash = hash_bytes(token.data(), token.size());
  uint64_t head = 0;
  std::memcpy(&head, token.data(), token.size() < 8 ? token.size() : 8);
  size_t mask = slots_.size() - 1;
  size_t h = hash & mask;
  while (slots_[h].id != kNone) {
    const Slot& s = slots_[h];
    if (s.hash == hash && s.head == head && s.length == token.size() &&
        (token.size() <= 8 || std::memcmp(arena_.data() + s.offset + 8, token.data() + 8, token.size() - 8) == 0))
      return slots_[h];
    h = (h + 1) & mask;
  }
  if ((count_ + 1) * 2 > slots_.size()) {
    grow();
    return lookup(token);
  }
  Slot& s = slots_[h];
  s.hash = hash;
  s.head = head;
  s.offset = static_cast<uint32_t>(arena_.size());
  s.length = static_cast<uint32_t>(token.size());
  s.id = static_cast<uint32_t>(count_++);
  s.stem = kNone;
  arena_.append(token.data(), token.size());
  slot_of_id_.push_back(static_cast<uint32_t>(h));
  return s;
}

uint32_t TokenVocab::id(std::string_view token) { return lookup(token).id; }

uint32_t TokenVocab::stemmed_id(std::string_view token) {
  Slot* s = &lookup(token);
  if (s->stem != kNone) return s->stem;
  uint32_t own = s->id;
  uint32_t stem = id(porter_stem(token));  // may move slots
  slots_[slot_of_id_[own]].stem = stem;
  return stem;
}

std::string_view TokenVocab::str(uint32_t id) const {
  const Slot& s = slots_[slot_of_id_[id]];
  return std::string_view(arena_.data() + s.offset, s.length);
}

void TokenVocab::reset_if_larger_than(size_t limit) {
  if (count_ > limit || arena_.size() > (size_t(1) << 30)) {
    slots_.assign(1024, Slot{0, 0, 0, 0, kNone, kNone});
    slot_of_id_.clear();
    arena_.clear();
    count_ = 0;
  }
}

}  // namespace mds
