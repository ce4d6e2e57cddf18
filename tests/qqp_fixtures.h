// Shared fixtures of the tests that train the real model on real data: the
// first 64 QQP pairs of ../shared/data tokenized with a BPE tokenizer learnt
// from them, a tiny MoE-DiffuSeq config that trains in seconds, and the
// trainer setup of a bound model.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/jsonl.h"
#include "text/bpe_trainer.h"
#include "text/tokenizer.h"
#include "train/dataset.h"
#include "train/model_binding.h"
#include "train/trainer.h"

namespace mds::testing {

// 64 training pairs of the DiffuSeq QQP set, tokenized with a BPE tokenizer
// (512 ids) learnt from them.
struct Pairs {
  train::Dataset data;
  uint64_t vocab = 0;
};

inline const Pairs& qqp64() {
  static const Pairs p = [] {
    mds::JsonlReader in(std::string(MDS_SHARED_DIR) + "/data/qqp_diffuseq/train.jsonl.zst", false);
    std::vector<std::pair<std::string, std::string>> text;
    nlohmann::json obj;
    while (text.size() < 64 && in.next(obj)) text.emplace_back(obj["src"].get<std::string>(), obj["trg"].get<std::string>());
    mds::WordCounts words;
    for (const auto& [s, t] : text) words.add_text(s), words.add_text(t);
    mds::BpeTrainOptions o;
    o.vocab_size = 512;
    const mds::Tokenizer tok = mds::train_bpe(words, o);
    Pairs out;
    for (const auto& [s, t] : text) out.data.add(tok.encode(s), tok.encode(t));
    out.data.name = "qqp_diffuseq/train.jsonl.zst (first 64)";
    out.vocab = tok.vocab_size();
    return out;
  }();
  return p;
}

inline nlohmann::json tiny_model(double dropout, int diffusion_steps) {
  return {{"embed_dim", 32},     {"hidden_dim", 64},         {"layers", 2},          {"heads", 4},
          {"ffn_dim", 128},      {"time_embed_dim", 32},     {"time_hidden_dim", 64}, {"max_src_len", 32},
          {"max_trg_len", 32},   {"dropout", dropout},       {"attention_window", 8}, {"global_target", true},
          {"moe_experts", 4},    {"moe_top_k", 2},           {"diffusion_steps", diffusion_steps}};
}

// The trainer's view of a bound real model: its shape and its packer
// (`bound` must outlive the setup), writing checkpoints to `ckpt`.
inline train::TrainerSetup real_model_setup(const train::BoundModel& bound, const std::string& ckpt) {
  train::TrainerSetup s;
  const train::ModelShape shape = bound.shape();
  s.num_timesteps = shape.num_timesteps;
  s.max_src_len = shape.max_src_len;
  s.max_trg_len = shape.max_trg_len;
  s.pack = [&bound](const train::Dataset& d, const std::vector<uint64_t>& ids) { return bound.pack(d, ids); };
  s.checkpoint_path = ckpt;
  return s;
}

}  // namespace mds::testing
