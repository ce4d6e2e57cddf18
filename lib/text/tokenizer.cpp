// Byte-level BPE encoding and decoding (tokenizer.h). A word is encoded by
// repeatedly merging the adjacent pair with the lowest merge rank, all its
// occurrences left to right, which reproduces the segmentation the trainer
// applied to its own words (text/bpe_trainer.cpp).
#include "text/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "text/hash.h"
#include "text/pretokenizer.h"

namespace mds {

Tokenizer::Tokenizer() { build_tables(); }

Tokenizer Tokenizer::from_merges(std::vector<Merge> merges, const std::string& source) {
  Tokenizer t;
  FlatU64Map seen(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const Merge& m = merges[i];
    const uint64_t limit = kFirstMergeId + i;
    for (uint32_t id : {m.left, m.right}) {
      if (id < kFirstByteId || id >= limit)
        throw_bad_input(
            "{}: merge {} refers to token {}, but only ids {}..{} are defined before it (bytes and earlier "
            "merges); the merge table is corrupted",
            source, i, id, kFirstByteId, limit - 1);
    }
    uint32_t& first = seen.find_or_insert(FlatU64Map::pack(m.left, m.right), static_cast<uint32_t>(i));
    if (first != i)
      throw_bad_input("{}: merge {} repeats merge {} ({} + {}); the merge table is corrupted", source, i, first,
                      m.left, m.right);
  }
  t.merges_ = std::move(merges);
  t.build_tables();
  return t;
}

void Tokenizer::build_tables() {
  ranks_ = FlatU64Map(merges_.size());
  for (size_t i = 0; i < merges_.size(); ++i)
    ranks_.find_or_insert(FlatU64Map::pack(merges_[i].left, merges_[i].right), static_cast<uint32_t>(i));
  token_offsets_.clear();
  token_bytes_.clear();
  token_offsets_.push_back(0);
  for (const char* name : kSpecialNames) {
    token_bytes_ += name;
    token_offsets_.push_back(static_cast<uint32_t>(token_bytes_.size()));
  }
  for (int b = 0; b < 256; ++b) {
    token_bytes_.push_back(static_cast<char>(b));
    token_offsets_.push_back(static_cast<uint32_t>(token_bytes_.size()));
  }
  for (const Merge& m : merges_) {
    // Copy the pieces first: appending may reallocate token_bytes_.
    std::string piece(token_bytes(m.left));
    piece += token_bytes(m.right);
    token_bytes_ += piece;
    token_offsets_.push_back(static_cast<uint32_t>(token_bytes_.size()));
  }
  // Identity: pre-tokenizer, specials, then the merge table as little-endian u32.
  Fnv1a64 h;
  h.update(std::string_view("mds-byte-bpe"));
  h.update(std::string_view(kPretokenizerName, std::char_traits<char>::length(kPretokenizerName) + 1));
  for (const char* name : kSpecialNames) h.update(std::string_view(name, std::char_traits<char>::length(name) + 1));
  for (const Merge& m : merges_) {
    h.update_u32(m.left);
    h.update_u32(m.right);
  }
  hash_ = h.hex("fnv1a64:");
}

std::string_view Tokenizer::token_bytes(uint32_t id) const {
  if (id >= vocab_size()) throw_bad_input("token id {} is out of range (vocabulary size {})", id, vocab_size());
  return std::string_view(token_bytes_).substr(token_offsets_[id], token_offsets_[id + 1] - token_offsets_[id]);
}

std::optional<uint32_t> Tokenizer::find(std::string_view token) const {
  for (uint32_t i = 0; i < kNumSpecials; ++i)
    if (token == kSpecialNames[i]) return i;
  for (uint32_t id = kFirstByteId; id < vocab_size(); ++id)
    if (token_bytes(id) == token) return id;
  return std::nullopt;
}

uint32_t Tokenizer::id_of(std::string_view token) const {
  auto id = find(token);
  if (!id) throw_usage("token \"{}\" is not in the vocabulary", std::string(token));
  return *id;
}

void Tokenizer::encode_word(std::string_view word, std::vector<uint32_t>& out) const {
  const size_t n = word.size();
  const auto* p = reinterpret_cast<const uint8_t*>(word.data());
  if (n == 0) return;
  if (n == 1) {
    out.push_back(kFirstByteId + p[0]);
    return;
  }
  // sym[i]: current symbols; rank[i]: merge rank of (sym[i], sym[i+1]).
  constexpr size_t kStack = 2 * kMaxPretokenBytes;
  uint32_t sym_stack[kStack], rank_stack[kStack];
  std::vector<uint32_t> sym_heap, rank_heap;
  uint32_t* sym = sym_stack;
  uint32_t* rank = rank_stack;
  if (n > kStack) {
    sym_heap.resize(n);
    rank_heap.resize(n);
    sym = sym_heap.data();
    rank = rank_heap.data();
  }
  constexpr uint32_t kNone = FlatU64Map::kMissing;
  for (size_t i = 0; i < n; ++i) sym[i] = kFirstByteId + p[i];
  for (size_t i = 0; i + 1 < n; ++i) rank[i] = ranks_.find(FlatU64Map::pack(sym[i], sym[i + 1]));
  rank[n - 1] = kNone;
  size_t m = n;
  while (m > 1) {
    uint32_t best = kNone;
    for (size_t i = 0; i + 1 < m; ++i) best = std::min(best, rank[i]);
    if (best == kNone) break;
    const uint32_t merged = kFirstMergeId + best;
    size_t w = 0;
    for (size_t i = 0; i < m;) {
      if (i + 1 < m && rank[i] == best) {
        sym[w++] = merged;
        i += 2;
      } else {
        sym[w] = sym[i];
        rank[w++] = rank[i++];  // still valid unless the right neighbour changed (fixed below)
      }
    }
    m = w;
    for (size_t j = 0; j < m; ++j) {
      if (sym[j] != merged) continue;
      if (j > 0) rank[j - 1] = ranks_.find(FlatU64Map::pack(sym[j - 1], merged));
      rank[j] = j + 1 < m ? ranks_.find(FlatU64Map::pack(merged, sym[j + 1])) : kNone;
    }
    rank[m - 1] = kNone;
  }
  out.insert(out.end(), sym, sym + m);
}

void Tokenizer::encode_append(std::string_view text, std::vector<uint32_t>& out) const {
  for_each_pretoken(text, [&](std::string_view piece) { encode_word(piece, out); });
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<uint32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_append(text, out);
  return out;
}

void Tokenizer::decode_append(const uint32_t* ids, size_t n, std::string& out, bool skip_special) const {
  const size_t v = vocab_size();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t id = ids[i];
    if (id >= v)
      throw_bad_input("token id {} at position {} is out of range (vocabulary size {})", id, i, v);
    if (skip_special && id < kNumSpecials) continue;
    out.append(token_bytes_, token_offsets_[id], token_offsets_[id + 1] - token_offsets_[id]);
  }
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special) const {
  std::string out;
  decode_append(ids.data(), ids.size(), out, skip_special);
  return out;
}

void Tokenizer::set_samples(const std::vector<std::string>& texts) {
  samples_.clear();
  for (const std::string& t : texts) samples_.push_back({t, encode(t)});
}

}  // namespace mds
