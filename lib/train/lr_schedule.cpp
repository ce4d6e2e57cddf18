// Learning-rate schedule (see lr_schedule.h).
#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace mds::train {

double learning_rate(const TrainConfig& c, int64_t step) {
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  if (c.lr_schedule == LrSchedule::constant) return c.lr;
  const int64_t span = c.effective_decay_steps() - c.warmup_steps;
  const double p = span <= 0 ? 1.0 : std::clamp(static_cast<double>(step - c.warmup_steps) / span, 0.0, 1.0);
  const double shape = c.lr_schedule == LrSchedule::linear ? 1.0 - p : 0.5 * (1.0 + std::cos(M_PI * p));
  return c.final_lr + (c.lr - c.final_lr) * shape;
}

}  // namespace mds::train
