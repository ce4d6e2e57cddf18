// Byte-level BPE training over a table of pre-token words (the algorithm of
// Sennrich et al., "Neural Machine Translation of Rare Words with Subword
// Units", ACL 2016, applied to bytes as in GPT-2), with incremental pair
// counts: each merge touches only the words that contain the merged pair.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "text/tokenizer.h"
#include "text/word_counts.h"

namespace mds {

struct BpeTrainOptions {
  // Total vocabulary size including the 4 specials and the 256 bytes.
  size_t vocab_size = 16384;
  // A pair seen fewer times than this is never merged (training stops early).
  uint64_t min_frequency = 2;
  // Called now and then with (merges done, merges wanted); may be empty.
  std::function<void(size_t, size_t)> progress;
};

struct BpeTrainStats {
  size_t unique_words = 0;
  uint64_t total_words = 0;
  size_t merges = 0;
  uint64_t last_merge_count = 0;  // frequency of the last pair merged
  std::string stop_reason;        // "vocab_size", "min_frequency" or "no_pairs"
};

// Learns merges until the vocabulary reaches opts.vocab_size or no pair is
// frequent enough. Ties between equally frequent pairs go to the pair with the
// smaller (left id, right id), so results do not depend on thread count or
// word order. The returned tokenizer has no self-test samples yet.
Tokenizer train_bpe(const WordCounts& words, const BpeTrainOptions& opts, BpeTrainStats* stats = nullptr);

}  // namespace mds
