// ModelConfig: every architecture, attention, MoE and diffusion knob of the
// model, declared in the config schema (io/config_schema.h) with its range,
// default, documentation and source (docs/config.md is generated from it).
// Parsed from the "model" object of a config file; unknown keys and invalid
// values are usage errors naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/special_ids.h"
#include "io/config_schema.h"

namespace mds {

struct ModelConfig {
  // ---- sizes ----
  int64_t vocab_size = 0;     // 0 = take it from the tokenizer (must be set before make_model)
  int embed_dim = 128;        // d, word-embedding width (DiffuSeq hidden_dim)
  int hidden_dim = 768;       // H
  int layers = 12;
  int heads = 12;
  int ffn_dim = 3072;         // F, per expert or dense
  int time_embed_dim = 128;   // sinusoidal width
  int time_hidden_dim = 512;  // time MLP hidden width
  int max_src_len = 1024;
  int max_trg_len = 256;
  int max_positions = 0;      // 0 = max_src_len + max_trg_len + 3
  double dropout = 0.1;
  double layer_norm_eps = 1e-12;

  // ---- sparse attention ----
  int attention_window = 256;               // keys per side; 0 = dense
  std::vector<int> attention_dilation{1};   // one value for all heads, or one per head
  bool global_target = false;               // whole target region global
  int global_source_stride = 0;             // every n-th source token global; 0 = none

  // ---- mixture of experts ----
  int moe_experts = 8;                 // 0 = dense FFN everywhere
  int moe_top_k = 2;
  int moe_every = 1;                   // MoE in layers i with i % moe_every == moe_every - 1
  double moe_capacity_factor = 0.0;    // 0 = dropless
  bool moe_renormalize = true;         // renormalise top-k gates (k > 1)
  double moe_balance_weight = 0.01;
  double moe_z_weight = 0.001;

  // ---- diffusion ----
  int diffusion_steps = 2000;
  std::string noise_schedule = "sqrt";
  bool rescale_timesteps = true;       // network sees t * 1000 / T
  bool absorbing = true;               // DiffuSeq-v2 soft absorbing state
  double absorb_rate = 0.5;            // gamma
  double absorb_reg = 0.01;            // weight of ||m||_2
  std::string loss_region = "target";  // "target" or "sequence" (DiffuSeq code)
  bool mse_t0_clean = true;            // t = 0: MSE against the clean embedding
  bool prior_loss = true;              // ||sqrt(abar_{T-1}) x0||^2 term
  double rounding_weight = 1.0;        // weight of the rounding cross-entropy

  // Derived values.
  int positions() const { return max_positions > 0 ? max_positions : max_src_len + max_trg_len + 3; }
  int head_dim() const { return hidden_dim / heads; }
  bool is_moe_layer(int layer) const { return moe_experts > 0 && layer % moe_every == moe_every - 1; }
  std::vector<int> head_dilations() const;  // expanded to one per head
};

// Parses a "model" JSON object over the defaults; usage errors start with
// `where` and name the field ("run.json: model.heads: expected ..., found 5";
// unknown keys list the valid ones).
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where = "model");
nlohmann::json model_config_to_json(const ModelConfig& c);
// The checks of model_config_from_json for a config built in code: every
// field's range and the checks across fields; usage errors name the field.
void validate_model_config(const ModelConfig& c, const std::string& where = "model");
// Parses the "model" object for a tokenizer of vocab_size ids: a vocab_size
// of 0 (the default) takes the tokenizer's; any other value must match it.
ModelConfig model_config_for_vocab(const nlohmann::json& j, int64_t vocab_size, const std::string& where = "model");
// Every field with its type, range, default, documentation and source, in
// schema order (docs/config.md).
const std::vector<FieldInfo>& model_config_fields();
// The valid keys, in schema order.
const std::vector<std::string>& model_config_keys();

}  // namespace mds
