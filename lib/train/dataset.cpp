// In-memory training pairs (see dataset.h).
#include "train/dataset.h"

namespace mds::train {

void Dataset::add(const std::vector<uint32_t>& src, const std::vector<uint32_t>& trg) {
  add(src.data(), src.size(), trg.data(), trg.size());
}

void Dataset::add(const uint32_t* src, size_t src_len, const uint32_t* trg, size_t trg_len) {
  tokens_.insert(tokens_.end(), src, src + src_len);
  offsets_.push_back(tokens_.size());
  tokens_.insert(tokens_.end(), trg, trg + trg_len);
  offsets_.push_back(tokens_.size());
}

uint64_t Dataset::fingerprint() const {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a 64 offset basis
  auto feed = [&h](uint64_t v) {
    for (int b = 0; b < 8; ++b) {
      h ^= (v >> (8 * b)) & 0xFF;
      h *= 0x100000001B3ull;  // FNV prime
    }
  };
  feed(size());
  for (uint64_t o : offsets_) feed(o);
  for (uint32_t t : tokens_) feed(t);
  return h;
}

}  // namespace mds::train
