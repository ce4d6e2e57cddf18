// Learning rate as a function of the update index: linear warmup, then
// constant, linear or cosine decay to final_lr at the decay horizon.
#pragma once

#include <cstdint>

#include "train/train_config.h"

namespace mds::train {

// lr for update `step` (0-based: the first update is step 0). Warmup ramps
// lr*(step+1)/warmup_steps; the decay then runs from lr at step warmup_steps
// to final_lr at step effective_decay_steps() and stays there. With no
// warmup and linear decay this is DiffuSeq's lr*(1 - step/learning_steps).
double learning_rate(const TrainConfig& c, int64_t step);

}  // namespace mds::train
