// Word -> ids memo for bulk encoding (encoder_cache.h).
#include "text/encoder_cache.h"

#include <cstring>

#include "text/pretokenizer.h"
#include "text/word_counts.h"

namespace mds {

CachingEncoder::CachingEncoder(const Tokenizer& tok, size_t max_entries)
    : tok_(tok), max_entries_(max_entries < 16 ? 16 : max_entries) {
  size_t cap = 16;
  while (cap < max_entries_ * 2) cap *= 2;  // load factor stays <= 1/2
  slots_.resize(cap);
}

void CachingEncoder::clear() {
  for (Slot& s : slots_) s.key_len = 0;
  keys_.clear();
  ids_.clear();
  size_ = 0;
}

void CachingEncoder::encode_word(std::string_view word, std::vector<uint32_t>& out) {
  if (word.size() > kMaxWordBytes || word.size() < 2) {
    tok_.encode_word(word, out);
    return;
  }
  const uint64_t h = hash_bytes(word);
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  for (;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key_len == 0) break;
    if (s.tag == tag && s.key_len == word.size() && std::memcmp(keys_.data() + s.key_off, word.data(), word.size()) == 0) {
      out.insert(out.end(), ids_.begin() + s.ids_off, ids_.begin() + s.ids_off + s.ids_len);
      ++hits_;
      return;
    }
  }
  ++misses_;
  const size_t start = out.size();
  tok_.encode_word(word, out);
  if (size_ >= max_entries_) {
    clear();
    i = h & mask;
    while (slots_[i].key_len) i = (i + 1) & mask;
  }
  Slot& s = slots_[i];
  s.tag = tag;
  s.key_off = static_cast<uint32_t>(keys_.size());
  s.key_len = static_cast<uint8_t>(word.size());
  s.ids_off = static_cast<uint32_t>(ids_.size());
  s.ids_len = static_cast<uint8_t>(out.size() - start);  // <= word size <= 32
  keys_.append(word);
  ids_.insert(ids_.end(), out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
  ++size_;
}

void CachingEncoder::encode_append(std::string_view text, std::vector<uint32_t>& out) {
  for_each_pretoken(text, [&](std::string_view piece) { encode_word(piece, out); });
}

}  // namespace mds
