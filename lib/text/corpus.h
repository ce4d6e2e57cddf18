// Reading text corpora for the tokenizer tools: plain text lines or JSON Lines
// with string fields (src, trg), from files, .zst files or stdin, in batches of
// lines that worker threads can parse and tokenize independently. Errors name
// the file and line exactly as JsonlReader (io/jsonl.h) does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/parallel.h"
#include "io/stream.h"

namespace mds {

enum class InputFormat { text, jsonl };

// "text", "jsonl" or "auto" (JSONL when the name ends in .jsonl or
// .jsonl.zst, text otherwise, including stdin). Throws usage otherwise.
InputFormat resolve_input_format(const std::string& flag, const std::string& path);

// A run of consecutive lines of one input.
struct LineBatch {
  std::string source;      // display name of the input
  uint64_t first_line = 0; // 1-based number of lines[0]
  std::vector<std::string> lines;
  size_t bytes = 0;        // total bytes of lines (without newlines)
};

// Cuts an input into batches of about `batch_bytes` (at least one line).
class BatchReader {
 public:
  BatchReader(const std::string& path, size_t batch_bytes = 1 << 20);
  bool next(LineBatch& batch);
  std::string display_name() const { return lines_.display_name(); }

 private:
  LineReader lines_;
  size_t batch_bytes_;
};

// Reads `path` in batches and runs work(batch, result, thread) on a wave of
// 2 x threads batches in parallel (result starts as Result()), then
// consume(batch, result) for each in input order: parallel work, serial
// order-dependent output (shards, counts, error reports).
template <typename Result, typename Work, typename Consume>
void run_ordered(const std::string& path, int threads, Work&& work, Consume&& consume) {
  BatchReader reader(path);
  const size_t wave = static_cast<size_t>(threads) * 2;
  std::vector<LineBatch> batches(wave);
  std::vector<Result> results(wave);
  for (;;) {
    size_t n = 0;
    while (n < wave && reader.next(batches[n])) ++n;
    if (n == 0) break;
    parallel_for(n, threads, [&](size_t i, int thread) {
      results[i] = Result();
      work(batches[i], results[i], thread);
    });
    for (size_t i = 0; i < n; ++i) consume(batches[i], results[i]);
  }
}

// Result of parsing one JSONL line into its requested string fields.
enum class LineStatus { ok, blank, bad };

// Parses a JSON Lines line (io/jsonl.h's parse_jsonl_line) and extracts the
// string `fields` into out (resized to fields.size()). On `bad`, *error says
// what is wrong (without the file:line prefix), worded as JsonlReader words it.
LineStatus parse_jsonl_fields(std::string_view line, const std::vector<std::string>& fields,
                              std::vector<std::string>& out, std::string* error);

}  // namespace mds
