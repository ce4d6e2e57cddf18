// A small rule-based sentence splitter for ROUGE-Lsum on text without
// newlines (mds-eval --lsum-split sentence). It is NOT nltk's punkt model
// (rouge-score's split_summaries=True), which needs trained data; the rules
// are listed in docs/metrics.md.
#pragma once

#include <string_view>
#include <vector>

namespace mds {

// Splits text into sentences: at every newline, after sentence-final
// punctuation (. ! ? and CJK 。！？) followed by whitespace and a word that
// does not start with a lower-case ASCII letter, unless the word before the
// period is a known abbreviation or a single letter. CJK full stops split
// without needing whitespace. Pieces keep their characters (no trimming);
// empty pieces are dropped. Every cut is next to whitespace or punctuation,
// so tokenizing the pieces gives the same tokens as tokenizing the text.
std::vector<std::string_view> split_sentences(std::string_view text);

// rouge-score's own split: text.split("\n") without empty pieces.
std::vector<std::string_view> split_newlines(std::string_view text);

}  // namespace mds
