// Opens an mds-train checkpoint for sampling: the model config and weights
// (EMA), the embedded tokenizer, and the identity recorded in the sampler's
// metadata (path, training step, config, tokenizer hash).
#pragma once

#include "sample/sample_tool.h"

namespace mds {

// Throws bad_input naming the file for anything that is not a valid
// checkpoint, usage for an unavailable device.
LoadedModel load_sampling_model(const ModelLoadOptions& opt);

}  // namespace mds
