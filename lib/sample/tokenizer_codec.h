// The project tokenizer (lib/text) as the sampler's TextCodec. The header
// does not include text/tokenizer.h, so model code can use it in the same
// translation unit.
#pragma once

#include <memory>
#include <string>

#include "io/container.h"
#include "sample/text_codec.h"

namespace mds {

class Tokenizer;

// Encodes without special ids (byte-level BPE accepts any bytes); decodes
// with special ids dropped.
std::unique_ptr<TextCodec> make_tokenizer_codec(const Tokenizer& tok);

// The tokenizer embedded in a checkpoint (sections "tokenizer/..."), checked
// against its self-test samples; `hash` receives its content hash and
// `vocab` its size. Throws bad_input naming the checkpoint.
std::unique_ptr<TextCodec> embedded_tokenizer_codec(const Container& checkpoint, std::string* hash, size_t* vocab);

}  // namespace mds
