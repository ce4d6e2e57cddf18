// Batching, per-example seeding and target extraction around the solvers.
#include "sample/sampler.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "sample/example_rng.h"
#include "sample/sample_config.h"

namespace mds {

Batch pack_for_sampling(const std::vector<const std::vector<int32_t>*>& sources, int max_trg_len,
                        const SpecialIds& special) {
  Batch b;
  b.batch_size = static_cast<int>(sources.size());
  const int trg_slots = max_trg_len + 1;
  int L = 0;
  for (const auto* s : sources) L = std::max(L, static_cast<int>(s->size()) + 2 + trg_slots);
  b.seq_len = L;
  const size_t n = static_cast<size_t>(b.batch_size) * static_cast<size_t>(L);
  b.tokens.assign(n, special.pad);
  b.target_mask.assign(n, 0);
  b.valid.assign(n, 0);
  b.lengths.resize(sources.size());
  b.example_ids.assign(sources.size(), 0);
  for (size_t r = 0; r < sources.size(); ++r) {
    const auto& src = *sources[r];
    const size_t base = r * static_cast<size_t>(L);
    size_t p = 0;
    b.tokens[base + p++] = special.cls;
    for (int32_t t : src) b.tokens[base + p++] = t;
    b.tokens[base + p++] = special.sep;
    for (int k = 0; k < trg_slots; ++k) b.target_mask[base + p++] = 1;
    for (size_t q = 0; q < p; ++q) b.valid[base + q] = 1;
    b.lengths[r] = static_cast<int32_t>(p);
  }
  return b;
}

std::vector<int32_t> extract_target(const std::vector<int32_t>& row_tokens, const std::vector<uint8_t>& target_mask,
                                    const SpecialIds& special) {
  std::vector<int32_t> out;
  for (size_t p = 0; p < row_tokens.size(); ++p) {
    if (!target_mask[p]) continue;
    const int32_t t = row_tokens[p];
    if (t == special.sep || t == special.pad) break;
    if (t == special.cls || t == special.mask) continue;
    out.push_back(t);
  }
  return out;
}

Sampler::Sampler(Denoiser& model, SamplerOptions options) : model_(model), opt_(std::move(options)) {
  const DenoiserInfo& info = model.info();
  validate(opt_);  // every range the model does not set: the schema's (sample_config.h)
  opt_.solver = resolve_solver_settings(opt_.solver, info, model.schedule());
  if (opt_.max_trg_len == 0) opt_.max_trg_len = info.max_trg_len;
  if (opt_.max_trg_len < 1) throw_usage("--max-trg-len {} is out of range: expected at least 1", opt_.max_trg_len);
  const int longest = info.max_src_len + 2 + opt_.max_trg_len + 1;
  if (info.max_positions > 0 && longest > info.max_positions)
    throw_usage("--max-trg-len {} is too long for this model: max_src_len {} + {} + 3 slots exceeds its {} positions",
                opt_.max_trg_len, info.max_src_len, opt_.max_trg_len, info.max_positions);
  solver_ = make_solver(opt_.solver);
}

std::vector<SampleResult> Sampler::generate(const std::vector<SampleRequest>& requests) {
  const auto t0 = std::chrono::steady_clock::now();
  const DenoiserInfo& info = model_.info();
  std::vector<SampleResult> results(requests.size());
  // Truncated sources: the first max_src_len ids, as the training packer keeps them.
  std::vector<std::vector<int32_t>> sources(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& s = requests[i].src;
    const size_t keep = info.max_src_len > 0 ? std::min(s.size(), static_cast<size_t>(info.max_src_len)) : s.size();
    sources[i].assign(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(keep));
    results[i].candidates.resize(static_cast<size_t>(opt_.candidates));
  }
  // Rows in order (request, candidate); cut into batches of batch_size rows.
  const size_t C = static_cast<size_t>(opt_.candidates);
  const size_t total = requests.size() * C;
  for (size_t start = 0; start < total; start += static_cast<size_t>(opt_.batch_size)) {
    const size_t end = std::min(total, start + static_cast<size_t>(opt_.batch_size));
    std::vector<const std::vector<int32_t>*> srcs;
    std::vector<uint64_t> seeds;
    for (size_t row = start; row < end; ++row) {
      srcs.push_back(&sources[row / C]);
      seeds.push_back(example_seed(opt_.seed, requests[row / C].index, row % C));
    }
    Batch batch = pack_for_sampling(srcs, opt_.max_trg_len, info.special);
    for (size_t r = 0; r < seeds.size(); ++r) batch.example_ids[r] = seeds[r];
    Trajectory traj(model_, batch, seeds, opt_.solver.trajectory);
    solver_->run(traj);
    const std::vector<int32_t> tokens = traj.decode();
    const size_t L = static_cast<size_t>(batch.seq_len);
    for (size_t row = start; row < end; ++row) {
      const size_t r = row - start;
      std::vector<int32_t> row_tokens(tokens.begin() + static_cast<std::ptrdiff_t>(r * L),
                                      tokens.begin() + static_cast<std::ptrdiff_t>((r + 1) * L));
      std::vector<uint8_t> mask(batch.target_mask.begin() + static_cast<std::ptrdiff_t>(r * L),
                                batch.target_mask.begin() + static_cast<std::ptrdiff_t>((r + 1) * L));
      results[row / C].candidates[row % C] = extract_target(row_tokens, mask, info.special);
    }
    stats_.rows += end - start;
    stats_.batches += 1;
    stats_.model_evaluations += static_cast<uint64_t>(traj.model_evaluations());
    stats_.denoised_tokens += static_cast<uint64_t>(traj.model_evaluations()) * (end - start) * L;
    stats_.model_seconds += traj.model_seconds();
  }
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return results;
}

nlohmann::json Sampler::describe() const {
  const DenoiserInfo& info = model_.info();
  nlohmann::json j = solver_settings_to_json(opt_.solver);
  j["seed"] = opt_.seed;
  j["noise_streams"] = "per example: example_seed(seed, input index, candidate index)";
  j["batch_size"] = opt_.batch_size;
  j["candidates"] = opt_.candidates;
  j["max_src_len"] = info.max_src_len;
  j["max_trg_len"] = opt_.max_trg_len;
  j["schedule"] = {{"name", model_.schedule().name()}, {"steps", model_.schedule().steps()}};
  j["model_absorb_rate"] = info.absorb_rate;
  j["model"] = model_.describe();
  return j;
}

}  // namespace mds
