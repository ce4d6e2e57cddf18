// The project tokenizer (lib/text) as the sampler's TextCodec.
#pragma once

#include "sample/text_codec.h"
#include "text/tokenizer.h"

namespace mds {

class TokenizerCodec : public TextCodec {
 public:
  explicit TokenizerCodec(Tokenizer tok) : tok_(std::move(tok)) {}
  // Text to ids; never special ids (byte-level BPE accepts any bytes).
  std::vector<int32_t> encode(const std::string& text) const override;
  // Ids to bytes, special ids dropped.
  std::string decode(const std::vector<int32_t>& ids) const override;
  const Tokenizer& tokenizer() const { return tok_; }

 private:
  Tokenizer tok_;
};

}  // namespace mds
