// Progress bar text and durations; metrics lines interleave with the bar; a
// failed metrics write is recorded for the trainer instead of thrown.
#include <cerrno>
#include <cmath>
#include <cstdio>

#include <gtest/gtest.h>

#include "test_files.h"
#include "train/report.h"

namespace tr = mds::train;

TEST(Report, Durations) {
  EXPECT_EQ(tr::format_duration(0), "0s");
  EXPECT_EQ(tr::format_duration(59.4), "59s");
  EXPECT_EQ(tr::format_duration(187), "3m07s");
  EXPECT_EQ(tr::format_duration(3720), "1h02m");
  EXPECT_EQ(tr::format_duration(183600), "2d03h");
  EXPECT_EQ(tr::format_duration(-1), "?");
}

TEST(Report, ProgressLine) {
  tr::ProgressState s;
  s.step = 25;
  s.total_steps = 100;
  s.loss = 0.123456;
  s.tokens_per_s = 12345;
  s.eta_s = 75;
  const std::string line = tr::format_progress(s, 100);
  EXPECT_EQ(line, "step 25/100 [##########..............................]  25.0% loss 0.1235 | 12.3k tok/s | ETA 1m15s");
  EXPECT_LE(tr::format_progress(s, 60).size(), 60u);
  s.loss = NAN;
  s.eta_s = -1;
  EXPECT_NE(tr::format_progress(s, 100).find("loss - | 12.3k tok/s | ETA ?"), std::string::npos);
}

TEST(Report, MetricsLinesEraseAndRedrawTheBar) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    tr::Reporter r(f, f, true, 80);
    tr::ProgressState s;
    s.step = 1;
    s.total_steps = 2;
    r.progress(s, true);
    r.metric({{"type", "train"}, {"step", 1}});
    r.finish();
  }
  const std::string text = mds::testing::read_stream(f);
  std::fclose(f);
  // bar, erase, JSON line, bar again, final newline.
  const size_t json_at = text.find("\r\033[K{\"type\":\"train\",\"step\":1}\n");
  ASSERT_NE(json_at, std::string::npos) << text;
  EXPECT_NE(text.find("step 1/2", json_at), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

// A failed metrics write (here a full disk) must not throw, so the trainer can
// still save its checkpoint: it is recorded, named, and later lines are dropped.
TEST(Report, FailedMetricsWriteIsRecordedNotThrown) {
  std::FILE* f = std::fopen("/dev/full", "w");
  if (!f) GTEST_SKIP() << "no /dev/full";
  tr::Reporter r(f, nullptr, false, 80, "train.jsonl");
  EXPECT_EQ(r.failure_errno(), 0);
  EXPECT_NO_THROW(r.metric({{"type", "train"}, {"step", 1}}));
  EXPECT_EQ(r.failure_errno(), ENOSPC);
  EXPECT_EQ(r.failure(), "train.jsonl: write failed: No space left on device");
  EXPECT_NO_THROW(r.metric({{"type", "train"}, {"step", 2}}));
  EXPECT_EQ(r.failure(), "train.jsonl: write failed: No space left on device");  // the first failure is kept
  std::fclose(f);
}
