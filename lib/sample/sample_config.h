// The sampler's settings declared in the config schema (io/config_schema.h):
// the solver and its choices, steps, MBR candidates, the seed, lengths and
// batching, each with its type, range, default and meaning. The schema is the
// one place their ranges live: mds-sample's flags are read through it, the
// Sampler and the JSONL stream validate with it, and docs/config.md ("The
// sampler settings") is generated from it. Checks that need the model (steps
// within its diffusion steps, lengths within its positions) stay with the
// Sampler, which has it.
#pragma once

#include <string>
#include <vector>

#include "io/config_schema.h"
#include "sample/jsonl_stream.h"
#include "sample/sampler.h"

namespace mds {

// The settings of SamplerOptions (the solver, steps, rounding, noise choices,
// candidates, seed, target length, batch size).
const ConfigSchema<SamplerOptions>& sampler_schema();
// The batching settings of StreamOptions (sort window, idle flush).
const ConfigSchema<StreamOptions>& stream_schema();
// Both, in the order docs/config.md lists them.
std::vector<FieldInfo> sample_fields();

// Each field's range and the checks across fields (a usage error
// "WHERE.FIELD: expected WHAT, found VALUE").
void validate(const SamplerOptions& o, const std::string& where = "sample");
void validate(const StreamOptions& o, const std::string& where = "sample");

}  // namespace mds
