// Training output: JSONL metrics lines (to a --log file or stderr) and a
// one-line progress bar on stderr that is erased before any other line is
// written to the same stream and redrawn after it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace mds::train {

struct ProgressState {
  int64_t step = 0, total_steps = 0;
  double loss = 0;             // mean total loss of the last logging interval (NaN = none yet)
  double tokens_per_s = 0;
  double eta_s = -1;           // < 0 = unknown
};

// "step 1200/50000 [####......] 2.4% loss 0.4231 | 12.3k tok/s | ETA 1h02m", fitted to `width` columns.
std::string format_progress(const ProgressState& s, int width);
// "45s", "3m07s", "1h02m", "2d03h".
std::string format_duration(double seconds);

class Reporter {
 public:
  // metrics: where JSONL lines go (may be `messages`; nullptr = nowhere),
  // named metrics_name in messages ("train.jsonl", "<stdout>").
  // messages: stderr, for warnings and the bar. progress_bar: draw the bar.
  Reporter(std::FILE* metrics, std::FILE* messages, bool progress_bar, int width = 100,
           std::string metrics_name = "<metrics>");
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // One JSON line; keys keep their insertion order ("type" and "step" first).
  // The line is flushed at once. A failed write or flush does not throw (the
  // trainer must still save its checkpoint): it is recorded, later lines are
  // dropped, and the trainer stops at the next update boundary.
  void metric(const nlohmann::ordered_json& line);
  // The first failed metrics write: its errno (0 = none yet; EPIPE = the
  // reader of a pipe went away) and "NAME: write failed: TEXT".
  int failure_errno() const { return failure_errno_; }
  const std::string& failure() const { return failure_; }
  void warning(const std::string& text);  // "warning: TEXT" on messages
  // Redraws the bar at most ten times a second (always when force).
  void progress(const ProgressState& s, bool force = false);
  // Ends the bar line so later output starts on a fresh line.
  void finish();

 private:
  void clear_bar();
  std::FILE* metrics_;
  std::FILE* messages_;
  std::string metrics_name_;
  int failure_errno_ = 0;
  std::string failure_;
  bool bar_;
  int width_;
  bool bar_shown_ = false;
  std::string last_bar_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace mds::train
