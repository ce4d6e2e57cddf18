// pack_batch layout, batch checks, global positions, and the noise schedule.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/batch.h"
#include "model/schedule.h"

namespace mds {
namespace {

ModelConfig small() {
  ModelConfig c;
  c.vocab_size = 50;
  c.max_src_len = 5;
  c.max_trg_len = 3;
  return c;
}

TEST(PackBatch, LayoutMasksAndPadding) {
  const ModelConfig c = small();
  const Batch b = pack_batch({{{10, 11, 12}, {20, 21}}, {{13}, {}}}, c, {7, 8});
  ASSERT_EQ(b.batch_size, 2);
  EXPECT_EQ(b.seq_len, 3 + 2 + 3 + 1);
  EXPECT_EQ(b.lengths, (std::vector<int32_t>{9, 7}));
  EXPECT_EQ(b.example_ids, (std::vector<uint64_t>{7, 8}));
  const std::vector<int32_t> t0 = {kClsId, 10, 11, 12, kSepId, 20, 21, kSepId, kPadId};
  const std::vector<int32_t> t1 = {kClsId, 13, kSepId, kSepId, kPadId, kPadId, kPadId, kPadId, kPadId};
  EXPECT_EQ(std::vector<int32_t>(b.tokens.begin(), b.tokens.begin() + 9), t0);
  EXPECT_EQ(std::vector<int32_t>(b.tokens.begin() + 9, b.tokens.end()), t1);
  const std::vector<uint8_t> m0 = {0, 0, 0, 0, 0, 1, 1, 1, 1}, m1 = {0, 0, 0, 1, 1, 1, 1, 0, 0};
  const std::vector<uint8_t> v1 = {1, 1, 1, 1, 1, 1, 1, 0, 0};
  EXPECT_EQ(std::vector<uint8_t>(b.target_mask.begin(), b.target_mask.begin() + 9), m0);
  EXPECT_EQ(std::vector<uint8_t>(b.target_mask.begin() + 9, b.target_mask.end()), m1);
  EXPECT_EQ(std::vector<uint8_t>(b.valid.begin() + 9, b.valid.end()), v1);
  EXPECT_EQ(target_start(b, 0), 5);
  EXPECT_EQ(target_start(b, 1), 3);
  EXPECT_NO_THROW(check_batch(b, c));
}

TEST(PackBatch, RejectsOverlongSidesAndBadIds) {
  const ModelConfig c = small();
  EXPECT_THROW(pack_batch({{{1, 2, 3, 4, 5, 6}, {}}}, c, {0}), Error);
  EXPECT_THROW(pack_batch({{{4}, {5, 6, 7, 8}}}, c, {0}), Error);
  EXPECT_THROW(pack_batch({{{4, 50}, {5}}}, c, {0}), Error);
  Batch b = pack_batch({{{10}, {20}}}, c, {1});
  b.valid[0] = 0;
  EXPECT_THROW(check_batch(b, c), Error);
}

TEST(PackBatch, GlobalPositions) {
  ModelConfig c = small();
  c.max_src_len = 8;
  Batch b = pack_batch({{{10, 11, 12, 13, 14, 15}, {20}}}, c, {1});
  EXPECT_EQ(global_positions(b, c)[0], (std::vector<int32_t>{0, 7}));  // [CLS], source [SEP]
  c.global_source_stride = 2;
  EXPECT_EQ(global_positions(b, c)[0], (std::vector<int32_t>{0, 2, 4, 6, 7}));
  c.global_source_stride = 0;
  c.global_target = true;
  EXPECT_EQ(global_positions(b, c)[0], (std::vector<int32_t>{0, 7, 8, 9, 10, 11}));
}

TEST(NoiseSchedule, SqrtScheduleMatchesDiffuSeqValues) {
  const NoiseSchedule s = NoiseSchedule::sqrt_schedule(2000);
  // Values computed from DiffuSeq's code (its sqrt schedule).
  EXPECT_NEAR(s.alpha_bar(0), 0.98536, 5e-6);
  EXPECT_NEAR(s.sqrt_one_minus_alpha_bar(0), 0.1210, 5e-5);
  EXPECT_NEAR(s.alpha_bar(999), 0.2958, 5e-5);
  EXPECT_NEAR(s.alpha_bar(1998), 2.0e-4, 5e-6);
  EXPECT_NEAR(s.alpha_bar(1999), 2.0e-7, 5e-9);
  EXPECT_DOUBLE_EQ(s.beta(1999), 0.999);
  EXPECT_DOUBLE_EQ(s.model_time(1000), 500.0);
  EXPECT_DOUBLE_EQ(s.alpha_bar_prev(0), 1.0);
  for (int t = 1; t < 2000; ++t) ASSERT_LT(s.alpha_bar(t), s.alpha_bar(t - 1));
  // Posterior mean coefficients reproduce x0 when x_t is its noiseless version.
  const int t = 500;
  const double c0 = s.posterior_coef_x0(t), ct = s.posterior_coef_xt(t);
  EXPECT_NEAR(c0 + ct * s.sqrt_alpha_bar(t), s.sqrt_alpha_bar(t - 1), 1e-12);
  double emb[8];
  timestep_embedding(3.0, 8, emb);
  EXPECT_DOUBLE_EQ(emb[0], std::cos(3.0));
  EXPECT_DOUBLE_EQ(emb[4], std::sin(3.0));
  EXPECT_NEAR(emb[1], std::cos(3.0 * std::pow(10000.0, -0.25)), 1e-15);
}

}  // namespace
}  // namespace mds
