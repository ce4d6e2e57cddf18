// The bulk jobs of mds-tokenize: JSONL pairs -> shard, text lines -> ids,
// shard -> JSONL, id lines -> text. Inputs are read in batches and encoded on
// several threads; output order always equals input order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace mds {

// What to do with a source or target longer than its limit.
enum class TruncatePolicy {
  end,    // keep the first N ids (drop the end)
  start,  // keep the last N ids (drop the start)
  error,  // reject the record (bad input, or skipped and counted under skip_bad)
};
TruncatePolicy parse_truncate_policy(const std::string& name);  // throws usage
const char* truncate_policy_name(TruncatePolicy p);

struct EncodeOptions {
  std::string src_field = "src", trg_field = "trg";
  uint64_t max_src_len = 0, max_trg_len = 0;  // 0 = no limit
  TruncatePolicy truncate = TruncatePolicy::end;
  bool skip_bad = false;
  int threads = 1;
  size_t records_per_unit = 8192;
};

struct EncodeStats {
  uint64_t lines = 0;    // input lines read
  uint64_t records = 0;  // records (or text lines) written
  uint64_t skipped = 0;  // bad lines skipped under skip_bad
  uint64_t truncated_src = 0, truncated_trg = 0;
  uint64_t src_tokens = 0, trg_tokens = 0;  // ids written
  uint64_t bytes = 0;                       // text bytes encoded
  std::vector<std::string> skipped_examples;  // the first few "file:line: why" of skipped lines
};

// JSONL {"src","trg"} lines of `inputs` -> one shard at `output` ("-" = stdout).
EncodeStats encode_pairs_to_shard(const Tokenizer& tok, const std::vector<std::string>& inputs,
                                  const std::string& output, const EncodeOptions& opts);

// Each input line (raw bytes, "\r" kept) -> one output line of decimal ids
// separated by single spaces (an empty line for an empty input line).
EncodeStats encode_lines_to_ids(const Tokenizer& tok, const std::vector<std::string>& inputs,
                                const std::string& output, int threads);

struct DecodeStats {
  uint64_t records = 0;
  uint64_t invalid_utf8 = 0;  // records whose text was not valid UTF-8 (JSON output replaced it)
};

// Shard records -> JSONL {"src","trg"} lines. The shard's tokenizer hash must
// equal tok's (usage error otherwise). Text that is not valid UTF-8 (a
// truncation can cut a character) is written with U+FFFD replacements.
DecodeStats decode_shard_to_jsonl(const Tokenizer& tok, const std::vector<std::string>& inputs,
                                  const std::string& output, bool skip_special, int threads);

// Lines of whitespace-separated decimal ids -> one line of decoded bytes each.
DecodeStats decode_id_lines(const Tokenizer& tok, const std::vector<std::string>& inputs, const std::string& output,
                            bool skip_special, int threads);

}  // namespace mds
