// Batching: every example once per epoch, deterministic per (seed, epoch),
// bucketed by source length (less padding than random batches), batch and
// token limits respected, and a data position resumes the same sequence.
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "train/batch_plan.h"
#include "train_test_model.h"

namespace tr = mds::train;

namespace {
tr::BatchingOptions opts(uint64_t seed = 1) {
  tr::BatchingOptions o;
  o.batch_size = 8;
  o.bucket_pool = 4;
  o.seed = seed;
  o.max_src_len = 30;
  o.max_trg_len = 8;
  return o;
}
int64_t padded_tokens(const tr::Dataset& d, const tr::BatchPlan& p, const tr::BatchingOptions& o) {
  int64_t total = 0;
  for (const auto& b : p) {
    int64_t mx = 0;
    for (uint64_t id : b) mx = std::max(mx, tr::packed_length(d.src(id).size, o));
    total += mx * static_cast<int64_t>(b.size());
  }
  return total;
}
}  // namespace

TEST(BatchPlan, EveryExampleExactlyOncePerEpoch) {
  const tr::Dataset d = mds::testing::random_dataset(203, 1);
  for (int64_t epoch : {0, 1, 7}) {
    const tr::BatchPlan p = tr::plan_epoch(d, opts(), epoch);
    std::vector<int> seen(d.size(), 0);
    for (const auto& b : p) {
      EXPECT_GE(b.size(), 1u);
      EXPECT_LE(b.size(), 8u);
      for (uint64_t id : b) ++seen[id];
    }
    for (int s : seen) ASSERT_EQ(s, 1);
  }
}

TEST(BatchPlan, DeterministicPerSeedAndEpoch) {
  const tr::Dataset d = mds::testing::random_dataset(100, 2);
  EXPECT_EQ(tr::plan_epoch(d, opts(5), 3), tr::plan_epoch(d, opts(5), 3));
  EXPECT_NE(tr::plan_epoch(d, opts(5), 3), tr::plan_epoch(d, opts(5), 4));
  EXPECT_NE(tr::plan_epoch(d, opts(5), 3), tr::plan_epoch(d, opts(6), 3));
  tr::BatchingOptions fixed = opts();
  fixed.shuffle = false;
  EXPECT_EQ(tr::plan_epoch(d, fixed, 0), tr::plan_epoch(d, fixed, 9));
}

TEST(BatchPlan, BucketingCutsPadding) {
  const tr::Dataset d = mds::testing::random_dataset(800, 3, 400);
  tr::BatchingOptions o = opts();
  o.max_src_len = 400;
  o.bucket_pool = 1;  // pools of one batch: effectively random batches
  const int64_t random = padded_tokens(d, tr::plan_epoch(d, o, 0), o);
  o.bucket_pool = 50;
  const int64_t bucketed = padded_tokens(d, tr::plan_epoch(d, o, 0), o);
  o.bucket_pool = 0;
  const int64_t sorted = padded_tokens(d, tr::plan_epoch(d, o, 0), o);
  int64_t real = 0;
  for (size_t i = 0; i < d.size(); ++i) real += tr::packed_length(d.src(i).size, o);
  EXPECT_LT(bucketed, real * 1.1);  // at most 10% padding
  EXPECT_GT(random, real * 1.4);    // random batches waste far more
  EXPECT_LE(sorted, bucketed);
}

TEST(BatchPlan, TokenBudgetIsRespected) {
  const tr::Dataset d = mds::testing::random_dataset(300, 4, 200);
  tr::BatchingOptions o = opts();
  o.max_src_len = 200;
  o.batch_size = 64;
  o.max_batch_tokens = 600;
  const tr::BatchPlan p = tr::plan_epoch(d, o, 0);
  size_t n = 0;
  for (const auto& b : p) {
    int64_t mx = 0;
    for (uint64_t id : b) mx = std::max(mx, tr::packed_length(d.src(id).size, o));
    if (b.size() > 1) EXPECT_LE(mx * static_cast<int64_t>(b.size()), 600);
    n += b.size();
  }
  EXPECT_EQ(n, d.size());
}

TEST(BatchPlan, SourcesAreClippedForBucketing) {
  tr::BatchingOptions o = opts();
  o.max_src_len = 10;
  o.max_trg_len = 5;
  EXPECT_EQ(tr::packed_length(3, o), 3 + 2 + 5 + 1);
  EXPECT_EQ(tr::packed_length(100, o), 10 + 2 + 5 + 1);
  o.max_src_len = 0;
  EXPECT_EQ(tr::packed_length(100, o), 100 + 2 + 5 + 1);
}

TEST(BatchStream, ResumingAtAPositionContinuesTheSameSequence) {
  const tr::Dataset d = mds::testing::random_dataset(37, 5);
  tr::BatchStream a(d, opts());
  std::vector<std::vector<uint64_t>> seq;
  for (int k = 0; k < 30; ++k) seq.push_back(a.next());  // crosses several epochs (5 batches each)
  EXPECT_GE(a.position().epoch, 5);
  tr::BatchStream warm(d, opts());
  for (int k = 0; k < 13; ++k) warm.next();
  tr::BatchStream b(d, opts(), warm.position());
  for (int k = 13; k < 30; ++k) EXPECT_EQ(b.next(), seq[k]) << k;
  // Consecutive epochs use different orders.
  EXPECT_NE(std::vector<std::vector<uint64_t>>(seq.begin(), seq.begin() + 5),
            std::vector<std::vector<uint64_t>>(seq.begin() + 5, seq.begin() + 10));
}

TEST(BatchStream, RejectsEmptyDataAndBadPositions) {
  tr::Dataset empty;
  empty.name = "empty.mds";
  try {
    tr::BatchStream s(empty, opts());
    FAIL();
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("empty.mds: no training pairs"), std::string::npos);
  }
  const tr::Dataset d = mds::testing::random_dataset(10, 5);
  EXPECT_THROW(tr::BatchStream(d, opts(), {0, 99}), mds::Error);
}

TEST(Dataset, FingerprintTracksContent) {
  tr::Dataset a, b, c;
  a.add({5, 6}, {7});
  b.add({5, 6}, {7});
  c.add({5}, {6, 7});  // same tokens, other split
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_NE(a.fingerprint(), c.fingerprint());
  b.add({1}, {2});
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.src(0).size, 2u);
  EXPECT_EQ(a.trg(0).data[0], 7u);
}
