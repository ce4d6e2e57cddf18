// The training side of mds-tokenize: reads text/JSONL corpora in parallel
// into a word-frequency table and picks the self-test sample texts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace mds
