// Adapter from lib/text's Tokenizer (uint32 ids) to the sampler's int32 ids.
#include "sample/tokenizer_codec.h"

#include "core/error.h"
#include "text/tokenizer.h"

namespace mds {
namespace {

class TokenizerCodec : public TextCodec {
 public:
  explicit TokenizerCodec(Tokenizer tok) : tok_(std::move(tok)) {}
  std::vector<int32_t> encode(const std::string& text) const override {
    const std::vector<uint32_t> ids = tok_.encode(text);
    return std::vector<int32_t>(ids.begin(), ids.end());
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<uint32_t> u(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0) throw_runtime("token id {} is negative", ids[i]);
      u[i] = static_cast<uint32_t>(ids[i]);
    }
    return tok_.decode(u, /*skip_special=*/true);
  }

 private:
  Tokenizer tok_;
};

}  // namespace

std::unique_ptr<TextCodec> make_tokenizer_codec(const Tokenizer& tok) { return std::make_unique<TokenizerCodec>(tok); }

std::unique_ptr<TextCodec> embedded_tokenizer_codec(const Container& checkpoint, std::string* hash, size_t* vocab) {
  Tokenizer tok = Tokenizer::from_embedded(checkpoint, "tokenizer/");
  if (hash) *hash = tok.hash();
  if (vocab) *vocab = tok.vocab_size();
  return std::make_unique<TokenizerCodec>(std::move(tok));
}

}  // namespace mds
