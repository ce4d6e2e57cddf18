// The sampler: packs sources into batches of rows, runs a solver on each
// with per-example noise streams, and returns each row's generated target ids.
// Results do not depend on the batch size: each row's noise comes from
// example_seed(seed, input index, candidate index) and the model treats each
// example independently.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/trainable.h"
#include "sample/denoiser.h"
#include "sample/solver.h"

namespace mds {

struct SamplerOptions {
  SolverSettings solver;
  int batch_size = 32;      // rows (sequences) denoised together
  uint64_t seed = 101;      // run seed (DiffuSeq's default seed)
  int max_trg_len = 0;      // generated slots = max_trg_len + 1; 0 = the model's
  int candidates = 1;       // sequences per source (MBR)
};

// One source to generate for: its token ids (specials excluded) and its
// 0-based position in the input, which keys its noise streams.
struct SampleRequest {
  std::vector<int32_t> src;
  uint64_t index = 0;
};

// Generated target ids of each candidate, cut at the first [SEP] or [PAD],
// other special ids removed.
struct SampleResult {
  std::vector<std::vector<int32_t>> candidates;
};

struct SamplerStats {
  uint64_t rows = 0;              // sequences generated
  uint64_t batches = 0;
  uint64_t model_evaluations = 0; // batched network calls
  uint64_t denoised_tokens = 0;   // sum over calls of rows x packed length
  double model_seconds = 0;       // time inside the network
  double seconds = 0;             // total time in generate()
};

// Packs sources into the layout of model/trainable.h for sampling:
// [CLS] src [SEP] then max_trg_len + 1 target slots holding PAD.
Batch pack_for_sampling(const std::vector<const std::vector<int32_t>*>& sources, int max_trg_len,
                        const SpecialIds& special);

// The target ids of one decoded row: the tokens of the target region up to
// (excluding) the first [SEP] or [PAD], with [CLS] and [MASK] removed.
std::vector<int32_t> extract_target(const std::vector<int32_t>& row_tokens, const std::vector<uint8_t>& target_mask,
                                    const SpecialIds& special);

class Sampler {
 public:
  // Resolves and validates the options against the model (usage errors).
  Sampler(Denoiser& model, SamplerOptions options);

  std::vector<SampleResult> generate(const std::vector<SampleRequest>& requests);

  const SamplerOptions& options() const { return opt_; }
  const SamplerStats& stats() const { return stats_; }
  // The full configuration (solver, schedule, seeds, lengths, model) as JSON.
  nlohmann::json describe() const;

 private:
  Denoiser& model_;
  SamplerOptions opt_;
  std::unique_ptr<Solver> solver_;
  SamplerStats stats_;
};

}  // namespace mds
