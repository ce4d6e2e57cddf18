// The training side of mds-tokenize: reads text/JSONL corpora in parallel
// into a word-frequency table, picks the self-test sample texts, and trains a
// tokenizer with its provenance recorded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "text/bpe_trainer.h"
#include "text/tokenizer.h"
#include "text/word_counts.h"

namespace mds {

struct CorpusOptions {
  std::string format = "auto";                  // text | jsonl | auto (text/corpus.h)
  std::vector<std::string> fields{"src", "trg"};  // JSONL fields used as text
  bool skip_bad = false;                        // count and skip malformed JSONL lines
  int threads = 1;
};

struct CorpusStats {
  uint64_t lines = 0;    // input lines read (all files)
  uint64_t texts = 0;    // texts counted (a JSONL line gives one per field)
  uint64_t bytes = 0;    // bytes of those texts
  uint64_t skipped = 0;  // malformed lines skipped under skip_bad
};

// Pre-tokenizes and counts every text of the inputs ("-" = stdin). The first
// `sample_count` non-empty texts (cut to at most 256 bytes) go to *samples.
WordCounts count_corpus_words(const std::vector<std::string>& inputs, const CorpusOptions& opts, CorpusStats* stats,
                              std::vector<std::string>* samples, size_t sample_count);

// Fixed self-test texts embedded in every tokenizer besides corpus samples:
// they exercise specials-as-text, contractions, digits, whitespace runs,
// non-ASCII, invalid UTF-8 and NUL bytes.
std::vector<std::string> builtin_sample_texts();

struct TokenizerTrainOptions {
  CorpusOptions corpus;
  BpeTrainOptions bpe;
  size_t samples = 8;  // corpus texts embedded as self-test samples, besides the built-in ones
};

struct TokenizerTrainResult {
  Tokenizer tokenizer;
  CorpusStats corpus;
  BpeTrainStats bpe;
  double count_seconds = 0;  // spent reading and counting the inputs
};

// mds-tokenize train: counts the inputs' words, learns the merges, embeds the
// self-test samples (the built-in ones, then the corpus's first texts) and
// records the provenance in the tokenizer's training info: the options, the
// inputs, the corpus and merge statistics and the mds version.
TokenizerTrainResult train_tokenizer(const std::vector<std::string>& inputs, const TokenizerTrainOptions& opt);

}  // namespace mds
