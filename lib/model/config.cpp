// ModelConfig declared in the config schema (io/config_schema.h): one table
// gives every key's type, range, default, meaning and source, so parsing, the
// messages, serialisation and docs/config.md cannot drift apart. Sources: [DS]
// DiffuSeq code, [v2] DiffuSeq-v2, [LF] Longformer, [Switch] Switch
// Transformer, [ST] ST-MoE, [GS] GShard, [MoE] MoE-DiffuSeq; DEFAULT marks a
// choice the paper does not state.
#include "model/config.h"

#include <cstdint>

#include "core/error.h"

namespace mds {

namespace {

using schema::kInf;
using C = ModelConfig;

// Every field, then the checks across fields.
ConfigSchema<C> declare_model_schema() {
  ConfigSchema<C> t;
  t.section("Sizes")
      .integer("vocab_size", &C::vocab_size, 0,
               "vocabulary size; 0 = take the tokenizer's (a non-zero value must match it and exceed the special "
               "ids)", "tokenizer", "0 = from the tokenizer")
      .integer("embed_dim", &C::embed_dim, 1, "d, word-embedding width, also the width the diffusion runs in",
               "[DS] `hidden_dim`")
      .integer("hidden_dim", &C::hidden_dim, 1, "H, transformer width", "[DS] bert-base")
      .integer("layers", &C::layers, 1, "number of post-LN transformer layers", "[DS], [MoE]")
      .integer("heads", &C::heads, 1, "attention heads (must divide `hidden_dim`)", "[DS]")
      .integer("ffn_dim", &C::ffn_dim, 1, "F, FFN hidden width (per expert when MoE)", "[DS] bert-base")
      .integer("time_embed_dim", &C::time_embed_dim, 2, "width of the sinusoidal timestep embedding (even)",
               "[DS] `hidden_t_dim`")
      .integer("time_hidden_dim", &C::time_hidden_dim, 1, "hidden width of the time MLP (128 -> 512 -> H)", "[DS]")
      .integer("max_src_len", &C::max_src_len, 1,
               "longest source in tokens (without specials); longer sources are cut to it; `max_src_len + "
               "max_trg_len + 3` at most 2147483647",
               "DEFAULT (§8.3)", "sources are cut to it; 0 leaves no room for any source token")
      .integer("max_trg_len", &C::max_trg_len, 1,
               "longest target; the generated region has `max_trg_len + 1` slots", "DEFAULT (§8.3)")
      .integer("max_positions", &C::max_positions, 0,
               "size of the learned position table; 0 = `max_src_len + max_trg_len + 3`", "[DS] learned positions")
      .number("dropout", &C::dropout, 0, false, 1, true,
              "dropout after the input LayerNorm and on both sublayer outputs (no attention-probability dropout)",
              "[DS]")
      .number("layer_norm_eps", &C::layer_norm_eps, 0, true, kInf, false, "LayerNorm epsilon", "[DS] bert-base");
  t.section("Sparse attention")
      .integer("attention_window", &C::attention_window, 0,
               "w, keys **per side**; 0 = dense attention (DiffuSeq). A window ≥ L is also dense",
               "DEFAULT 512 two-sided [LF]", "0 = dense")
      .integers("attention_dilation", &C::attention_dilation, 1,
                "δ per head: one integer for all heads or an array of `heads` integers", "[LF] (δ = 1)")
      .boolean("global_target", &C::global_target,
               "make the whole target region global (every generated token sees the whole document)",
               "DEFAULT (§8.2)")
      .integer("global_source_stride", &C::global_source_stride, 0,
               "every n-th source token is global; 0 = none, 1 = all source tokens", "DEFAULT (§8.2)", "0 = none");
  t.section("Mixture of experts")
      .integer("moe_experts", &C::moe_experts, 0, "experts per MoE layer; 0 = dense FFN in every layer",
               "DEFAULT [Switch]", "0 = dense FFN")
      .integer("moe_top_k", &C::moe_top_k, 1,
               "experts per token, 1..`moe_experts` (k = experts is dense softmax gating)", "DEFAULT [GS]")
      .integer("moe_every", &C::moe_every, 1,
               "layer i is MoE iff `i % moe_every == moe_every - 1` (1 = all layers, 2 = every second)", "DEFAULT")
      .number("moe_capacity_factor", &C::moe_capacity_factor, 0, false, kInf, false,
              "0 = dropless; else each expert takes at most ⌈k·tokens/E·cf⌉ picks, first choices before second "
              "choices, in token order; a dropped pick contributes nothing (the residual path remains)",
              "[Switch], [GS]; dropless by default", "0 = dropless")
      .boolean("moe_renormalize", &C::moe_renormalize,
               "renormalise the top-k gate values to sum 1 (k > 1); k = 1 always uses the raw probability (Switch)",
               "[GS]")
      .number("moe_balance_weight", &C::moe_balance_weight, 0, false, kInf, false,
              "α of the Switch load-balancing loss α·E·Σ f_e P_e, summed over MoE layers", "[Switch]")
      .number("moe_z_weight", &C::moe_z_weight, 0, false, kInf, false,
              "weight of the router z-loss mean(logsumexp(logits)²), summed over MoE layers", "[ST], HF Switch");
  t.section("Diffusion and loss")
      .integer("diffusion_steps", &C::diffusion_steps, 2, "T", "[DS]")
      .choice<std::string>("noise_schedule", &C::noise_schedule, {"sqrt"}, same_name,
                           "ᾱ(s) = 1 − √(s + 1e−4), β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), 0.999)", "[DS]")
      .boolean("rescale_timesteps", &C::rescale_timesteps, "the network sees t·1000/T", "[DS]")
      .boolean("absorbing", &C::absorbing,
               "soft absorbing state: target positions noised around the learned vector m, tokens replaced by m "
               "with probability γ·√(1−ᾱ_t)",
               "[v2]")
      .number("absorb_rate", &C::absorb_rate, 0, false, 1, false, "γ", "[v2] README and scripts")
      .number("absorb_reg", &C::absorb_reg, 0, false, kInf, false, "weight of ‖m‖₂ (L2 norm, not squared) in the loss",
              "[v2] `reg_rate`")
      .choice<std::string>("loss_region", &C::loss_region, {"target", "sequence"}, same_name,
                           "`\"target\"`: losses over the target region (the paper); `\"sequence\"`: over every "
                           "real position, source included (DiffuSeq's code)",
                           "[DS] paper vs code (§8.7)")
      .boolean("mse_t0_clean", &C::mse_t0_clean,
               "at t = 0 the MSE target is the clean embedding Emb(w) instead of x0", "[DS]")
      .boolean("prior_loss", &C::prior_loss, "add ‖√ᾱ_{T−1} x0‖² (mean over d)", "[DS] `tT_loss`")
      .number("rounding_weight", &C::rounding_weight, 0, false, kInf, false,
              "weight of the rounding cross-entropy −log p(w | x0)", "[DS] (1)");
  // Checks across fields.
  t.check([](const C& c, const std::string& where) {
    if (c.vocab_size != 0 && c.vocab_size <= kMaskId)
      throw_usage("{}.vocab_size: expected 0 (from the tokenizer) or more than the special ids 0..{}, found {}",
                  where, kMaskId, c.vocab_size);
    if (c.hidden_dim % c.heads != 0)
      throw_usage("{}.heads: expected a divisor of hidden_dim = {}, found {}", where, c.hidden_dim, c.heads);
    if (c.time_embed_dim % 2 != 0)
      throw_usage("{}.time_embed_dim: expected an even integer >= 2, found {}", where, c.time_embed_dim);
    // The packed sequence [CLS] src [SEP] trg [SEP] must have a position
    // index an int can hold; computed in 64 bits so the check cannot overflow.
    const int64_t sequence = int64_t{c.max_src_len} + c.max_trg_len + 3;
    if (sequence > INT32_MAX)
      throw_usage("{}.max_src_len: expected max_src_len + max_trg_len + 3 at most {}, found {} + {} + 3 = {}", where,
                  INT32_MAX, c.max_src_len, c.max_trg_len, sequence);
    if (c.max_positions != 0 && c.max_positions < sequence)
      throw_usage("{}.max_positions: expected 0 or at least max_src_len + max_trg_len + 3 = {}, found {}", where,
                  sequence, c.max_positions);
    if (c.attention_dilation.size() != 1 && static_cast<int>(c.attention_dilation.size()) != c.heads)
      throw_usage("{}.attention_dilation: expected 1 or heads = {} entries, found {}", where, c.heads,
                  c.attention_dilation.size());
    if (c.moe_experts > 0 && c.moe_top_k > c.moe_experts)
      throw_usage("{}.moe_top_k: expected an integer in [1, moe_experts = {}], found {}", where, c.moe_experts,
                  c.moe_top_k);
  });
  return t;
}

const ConfigSchema<C>& model_schema() {
  static const ConfigSchema<C> s = declare_model_schema();
  return s;
}

}  // namespace

std::vector<int> ModelConfig::head_dilations() const {
  if (attention_dilation.size() == 1) return std::vector<int>(heads, attention_dilation[0]);
  return attention_dilation;
}

const std::vector<FieldInfo>& model_config_fields() { return model_schema().fields(); }

const std::vector<std::string>& model_config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const FieldInfo& f : model_config_fields()) k.push_back(f.name);
    return k;
  }();
  return keys;
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where) {
  return model_schema().parse(j, where);
}

ModelConfig model_config_for_vocab(const nlohmann::json& j, int64_t vocab_size, const std::string& where) {
  ModelConfig c = model_config_from_json(j, where);
  if (c.vocab_size != 0 && c.vocab_size != vocab_size)
    throw_usage("{}.vocab_size: expected 0 (take the tokenizer's) or the tokenizer's {} ids, found {}", where,
                vocab_size, c.vocab_size);
  c.vocab_size = vocab_size;
  validate_model_config(c, where);
  return c;
}

nlohmann::json model_config_to_json(const ModelConfig& c) { return model_schema().to_json(c); }

void validate_model_config(const ModelConfig& c, const std::string& where) { model_schema().validate(c, where); }

}  // namespace mds
