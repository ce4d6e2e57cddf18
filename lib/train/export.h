// Sampling checkpoints: a training checkpoint reduced to what mds-sample
// needs — the EMA weights (as "param/" sections, in bf16 or f32), the config,
// the embedded tokenizer and the provenance — without the raw weights, the
// AdamW moments and the trainer state. A 8.8M-parameter model shrinks from
// 128 MB to about 16 MB in bf16, small enough to ship in a repository
// (examples/models/, docs/format.md "Sampling checkpoints").
#pragma once

#include <nlohmann/json.hpp>

#include "io/container.h"

namespace mds::train {

// The meta key that marks a sampling checkpoint; its "weights" field says
// which weights the "param/" sections hold ("ema").
constexpr const char* kExportMetaKey = "export";

struct ExportOptions {
  DType weight_dtype = DType::bf16;               // bf16 or f32
  nlohmann::json about = nlohmann::json::object();  // merged into meta["export"]["about"]
};

// Builds the sampling checkpoint from a training checkpoint (bad_input, naming
// the source, when it is not one: no trainer metadata, a section missing).
// A checkpoint that is already a sampling checkpoint is refused too.
Container export_sampling_checkpoint(const Container& training_checkpoint, const ExportOptions& opt);

// Reads a JSON object from a file ("about" metadata for an export); bad_input
// naming the file and the parse error's byte offset when it is not one.
nlohmann::json read_json_object(const std::string& path);

// File to file: reads `in`, exports, writes `out` atomically with zstd level
// 19 (bf16 weights compress little; the level costs seconds, once). Returns
// the written container's export metadata.
nlohmann::json export_sampling_file(const std::string& in, const std::string& out, const ExportOptions& opt);

}  // namespace mds::train
