// ROUGE tokenizers. The default reproduces rouge-score's DefaultTokenizer:
// Python lower(), every character outside [a-z0-9] becomes a separator,
// optional nltk Porter stemming of tokens longer than 3 characters. The
// Unicode tokenizer is our own option for non-Latin text (see docs/metrics.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/token_vocab.h"

namespace mds {

enum class RougeTokenizerKind { rouge_score, unicode };
enum class LsumSplit { newline, sentence };

struct RougeTokenizeOptions {
  RougeTokenizerKind kind = RougeTokenizerKind::rouge_score;
  bool stem = false;
  LsumSplit lsum_split = LsumSplit::newline;
};

// Tokens of a text as ids, with the sentence structure ROUGE-Lsum needs.
struct TokenizedText {
  std::vector<uint32_t> ids;
  // Token index where each sentence starts, plus ids.size() at the end;
  // sentences without tokens are left out (they cannot change any score).
  std::vector<uint32_t> sentence_bounds;
  size_t sentence_count() const { return sentence_bounds.empty() ? 0 : sentence_bounds.size() - 1; }
};

// Tokenizes text. Tokenizing the sentences one by one gives exactly the tokens
// of the whole text (sentence cuts fall on separators), so the whole-text
// tokens (ROUGE-N, ROUGE-L) and the sentences (ROUGE-Lsum) come from one pass.
// scratch is a reusable buffer (kept by the caller to avoid allocations).
void tokenize_rouge(std::string_view text, const RougeTokenizeOptions& opt, TokenVocab& vocab, TokenizedText& out,
                    std::string& scratch);

// The token strings (after stemming) of one text, for tests and diagnostics.
std::vector<std::string> rouge_tokens(std::string_view text, RougeTokenizerKind kind, bool stem);

}  // namespace mds
