// What the streaming sampler needs from a tokenizer: text to ids (no special
// tokens added) and ids back to text. lib/text's Tokenizer is adapted to it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mds {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
};

// Picks one of N candidate texts (MBR). mds-sample passes mds-eval's
// select_mbr (lib/metrics/mbr.h) so both tools share one implementation.
using MbrSelector = std::function<size_t(const std::vector<std::string>&)>;

}  // namespace mds
