// The ModelBinding of lib/model (MoE-DiffuSeq on the CPU backend), used by
// mds-train.
#pragma once

#include <memory>

#include "train/model_binding.h"

namespace mds::train {

std::unique_ptr<ModelBinding> default_model_binding();

}  // namespace mds::train
