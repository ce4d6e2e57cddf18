// Adapter from lib/text's Tokenizer (uint32 ids) to the sampler's int32 ids.
#include "sample/tokenizer_codec.h"

namespace mds {

std::vector<int32_t> TokenizerCodec::encode(const std::string& text) const {
  const std::vector<uint32_t> ids = tok_.encode(text);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string TokenizerCodec::decode(const std::vector<int32_t>& ids) const {
  std::vector<uint32_t> u(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0) throw_runtime("token id {} is negative", ids[i]);
    u[i] = static_cast<uint32_t>(ids[i]);
  }
  return tok_.decode(u, /*skip_special=*/true);
}

}  // namespace mds
