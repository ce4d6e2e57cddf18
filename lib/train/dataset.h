// Training pairs held in memory as one flat token array: shards are read once
// (files or stdin, which cannot be rewound), then every epoch is planned over
// stable example ids 0..size()-1, the order of the records in the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mds::train {

struct TokenSpan {
  const uint32_t* data = nullptr;
  size_t size = 0;
};

class Dataset {
 public:
  void add(const std::vector<uint32_t>& src, const std::vector<uint32_t>& trg);
  void add(const uint32_t* src, size_t src_len, const uint32_t* trg, size_t trg_len);
  size_t size() const { return offsets_.size() / 2; }
  bool empty() const { return size() == 0; }
  TokenSpan src(size_t i) const { return span(offsets_[2 * i], offsets_[2 * i + 1]); }
  TokenSpan trg(size_t i) const { return span(offsets_[2 * i + 1], offsets_[2 * i + 2]); }
  size_t token_count() const { return tokens_.size(); }
  // FNV-1a over the lengths and tokens: resume uses it to notice changed data.
  uint64_t fingerprint() const;

  std::string name;  // where it came from, for messages

 private:
  TokenSpan span(uint64_t b, uint64_t e) const { return {tokens_.data() + b, static_cast<size_t>(e - b)}; }
  std::vector<uint32_t> tokens_;
  std::vector<uint64_t> offsets_{0};  // 2*size()+1 boundaries: src_i = [2i, 2i+1), trg_i = [2i+1, 2i+2)
};

}  // namespace mds::train
