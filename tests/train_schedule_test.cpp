// Learning-rate schedule values: warmup, linear (DiffuSeq's), cosine, constant.
#include <cmath>

#include <gtest/gtest.h>

#include "train/lr_schedule.h"

namespace tr = mds::train;

TEST(LrSchedule, LinearWithoutWarmupIsDiffuSeqs) {
  tr::TrainConfig c;
  c.steps = 100;
  c.lr = 1e-3;
  // DiffuSeq: lr * (1 - step / learning_steps).
  for (int s : {0, 1, 25, 50, 99}) EXPECT_DOUBLE_EQ(tr::learning_rate(c, s), 1e-3 * (1 - s / 100.0)) << s;
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 100), 0.0);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 250), 0.0);
}

TEST(LrSchedule, WarmupThenLinearToFinal) {
  tr::TrainConfig c;
  c.steps = 110;
  c.lr = 1e-3;
  c.final_lr = 1e-4;
  c.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 0), 1e-4);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 4), 5e-4);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 9), 1e-3);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 10), 1e-3);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 60), 1e-4 + 9e-4 * 0.5);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 110), 1e-4);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 500), 1e-4);
}

TEST(LrSchedule, CosineHitsHalfwayAndEnd) {
  tr::TrainConfig c;
  c.steps = 1000;
  c.lr = 2e-4;
  c.final_lr = 0;
  c.warmup_steps = 100;
  c.lr_schedule = tr::LrSchedule::cosine;
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 99), 2e-4);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 100), 2e-4);
  EXPECT_NEAR(tr::learning_rate(c, 550), 1e-4, 1e-18);
  EXPECT_NEAR(tr::learning_rate(c, 325), 1e-4 * (1 + std::cos(M_PI * 0.25)), 1e-18);
  EXPECT_NEAR(tr::learning_rate(c, 1000), 0.0, 1e-20);
  // Monotone non-increasing after warmup.
  for (int s = 100; s < 1000; ++s) EXPECT_LE(tr::learning_rate(c, s + 1), tr::learning_rate(c, s));
}

TEST(LrSchedule, DecayHorizonCanExceedSteps) {
  tr::TrainConfig c;
  c.steps = 10;
  c.decay_steps = 20;
  c.lr = 1.0;
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 9), 1.0 - 9 / 20.0);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 15), 1.0 - 15 / 20.0);
}

TEST(LrSchedule, ConstantAfterWarmup) {
  tr::TrainConfig c;
  c.steps = 10;
  c.lr = 0.5;
  c.warmup_steps = 4;
  c.lr_schedule = tr::LrSchedule::constant;
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 0), 0.125);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 3), 0.5);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 9), 0.5);
  EXPECT_DOUBLE_EQ(tr::learning_rate(c, 1000), 0.5);
}
