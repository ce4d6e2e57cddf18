// Streaming generation over JSON Lines: reads records with a "src" string,
// generates a batch worth at a time and writes each input object back with
// "hyp" added (and "candidates" on request), in input order, flushing after
// every batch so results appear before the input ends. When the input goes
// idle with a partial batch read, that batch is run at once, so a slow
// producer gets each answer without waiting for 31 more records.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/stream.h"
#include "sample/sampler.h"
#include "sample/text_codec.h"

namespace mds {

// Where input lines come from: files (and "-" = stdin) read in order through
// LineReader, which detects zstd and hands pipe lines over as they arrive;
// tests substitute their own.
class LineSource {
 public:
  virtual ~LineSource() = default;
  // Next line without its "\n"; false at the end of the input.
  virtual bool next(std::string& line) = 0;
  // "file:line" of the last line returned, for messages.
  virtual std::string where() const = 0;
  // Waits up to timeout_ms for the next line: false if none could be had
  // without waiting longer (the producer is idle). Sources that never wait
  // (memory, tests) keep this default.
  virtual bool wait_for_line(int timeout_ms) {
    (void)timeout_ms;
    return true;
  }
};

class FileLineSource : public LineSource {
 public:
  explicit FileLineSource(std::vector<std::string> paths);
  ~FileLineSource() override;
  bool next(std::string& line) override;
  std::string where() const override;
  bool wait_for_line(int timeout_ms) override;

 private:
  std::vector<std::string> paths_;
  size_t file_ = 0;
  std::unique_ptr<LineReader> lines_;
  std::string last_where_;
};

// Where output lines go (stdout or a file through OutputFile; a buffer in tests).
class LineSink {
 public:
  virtual ~LineSink() = default;
  virtual void write_line(const std::string& line) = 0;  // without the trailing "\n"
  virtual void flush() = 0;
};

class OutputFileSink : public LineSink {
 public:
  explicit OutputFileSink(OutputFile& out) : out_(out) {}
  void write_line(const std::string& line) override;
  void flush() override { out_.flush(); }

 private:
  OutputFile& out_;
};

struct StreamStats {
  uint64_t records = 0;    // records generated for
  uint64_t skipped = 0;    // malformed records skipped (skip_bad)
  uint64_t idle_batches = 0;  // partial batches run because the input went idle
  std::vector<std::string> skipped_examples;  // "file:line: why" of the first few skipped
  double first_output_seconds = -1;  // from the start to the first flushed result
  double seconds = 0;
};
struct StreamOptions {
  bool skip_bad = false;                 // count and skip malformed records instead of failing
  bool keep_candidates = false;          // add "candidates": every generated text, in candidate order
  MbrSelector select;                    // required when the sampler makes more than one candidate
  // Records read before generating, in batches: the window is sorted by
  // source length so batches pad little (long documents); 1 = pure streaming.
  int sort_window = 1;
  // With records waiting for their batch, an input idle this long (ms) runs
  // them as a partial batch; 0 = only full batches (and the end of input).
  // Which records share a batch never changes their results (per-record
  // noise streams; see docs/sampling.md for the last-bit caveat).
  int idle_flush_ms = 100;
  // Called after each batch is written (progress reports).
  std::function<void(const StreamStats&)> on_batch;
};


// Runs the whole stream. Errors: bad_input naming file:line for a malformed
// record (unless skip_bad), runtime for I/O and model failures.
// Records are numbered from 0 in input order (skipped ones not counted): the
// number keys each record's noise streams.
StreamStats sample_jsonl(Sampler& sampler, const TextCodec& codec, const StreamOptions& opt, LineSource& in,
                         LineSink& out);

// The output line for one record: `raw` (the input line, an object) with
// "hyp" (and "candidates") added. Keeps the input's bytes and key order when
// it can; an input that already has those keys is re-serialised with them
// replaced. Invalid UTF-8 in generated text becomes U+FFFD.
std::string annotate_record(const std::string& raw, const std::string& hyp, const std::vector<std::string>* candidates);

}  // namespace mds
