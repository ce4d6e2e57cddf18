// sacrebleu's "13a" tokenizer (mteval-v13a compatible) and "none", as
// sacrebleu 2.6.0 applies them: optional Python lower(), rstrip(), then the
// tokenizer; the result is a string of space-separated tokens.
#pragma once

#include <string>
#include <string_view>

namespace mds {

enum class BleuTokenizer { t13a, none };

// The 13a tokenization of one (already rstripped) line.
std::string tokenize_13a(std::string_view line);

// sacrebleu BLEU._preprocess_segment: lower() if asked, rstrip(), tokenize.
std::string sacrebleu_preprocess(std::string_view segment, bool lowercase, BleuTokenizer tok);

}  // namespace mds
