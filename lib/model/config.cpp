// ModelConfig JSON I/O and validation. One table lists every key with its
// reader and writer, so parsing, the unknown-key message and serialisation
// cannot drift apart.
#include "model/config.h"

#include <cstdint>
#include <functional>

#include "core/error.h"

namespace mds {

namespace {

using json = nlohmann::json;

struct Field {
  const char* key;
  std::function<void(ModelConfig&, const json&)> read;
  std::function<json(const ModelConfig&)> write;
};

template <typename T>
T get_as(const json& v, const char* key, const char* expected) {
  try {
    return v.get<T>();
  } catch (const json::exception&) {
    throw_usage("model config: field '{}' must be {}, found {}", key, expected, v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

int get_int(const json& v, const char* key) {
  if (!v.is_number_integer()) throw_usage("model config: field '{}' must be an integer, found {}", key, v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  const int64_t x = v.get<int64_t>();
  if (x < INT32_MIN || x > INT32_MAX) throw_usage("model config: field '{}' = {} is out of range", key, x);
  return static_cast<int>(x);
}
double get_num(const json& v, const char* key) {
  if (!v.is_number()) throw_usage("model config: field '{}' must be a number, found {}", key, v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return v.get<double>();
}
bool get_bool(const json& v, const char* key) {
  if (!v.is_boolean()) throw_usage("model config: field '{}' must be true or false, found {}", key, v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return v.get<bool>();
}
std::string get_str(const json& v, const char* key) { return get_as<std::string>(v, key, "a string"); }

#define MDS_INT(name) \
  Field { #name, [](ModelConfig& c, const json& v) { c.name = get_int(v, #name); }, [](const ModelConfig& c) { return json(c.name); } }
#define MDS_NUM(name) \
  Field { #name, [](ModelConfig& c, const json& v) { c.name = get_num(v, #name); }, [](const ModelConfig& c) { return json(c.name); } }
#define MDS_BOOL(name) \
  Field { #name, [](ModelConfig& c, const json& v) { c.name = get_bool(v, #name); }, [](const ModelConfig& c) { return json(c.name); } }
#define MDS_STR(name) \
  Field { #name, [](ModelConfig& c, const json& v) { c.name = get_str(v, #name); }, [](const ModelConfig& c) { return json(c.name); } }

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      Field{"vocab_size",
            [](ModelConfig& c, const json& v) {
              if (!v.is_number_integer()) throw_usage("model config: field 'vocab_size' must be an integer, found {}", v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
              c.vocab_size = v.get<int64_t>();
            },
            [](const ModelConfig& c) { return json(c.vocab_size); }},
      MDS_INT(embed_dim), MDS_INT(hidden_dim), MDS_INT(layers), MDS_INT(heads), MDS_INT(ffn_dim),
      MDS_INT(time_embed_dim), MDS_INT(time_hidden_dim), MDS_INT(max_src_len), MDS_INT(max_trg_len),
      MDS_INT(max_positions), MDS_NUM(dropout), MDS_NUM(layer_norm_eps),
      MDS_INT(attention_window),
      Field{"attention_dilation",
            [](ModelConfig& c, const json& v) {
              if (v.is_number_integer()) {
                c.attention_dilation = {get_int(v, "attention_dilation")};
                return;
              }
              if (!v.is_array() || v.empty())
                throw_usage("model config: field 'attention_dilation' must be an integer or a non-empty array of integers, found {}", v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
              c.attention_dilation.clear();
              for (const auto& x : v) c.attention_dilation.push_back(get_int(x, "attention_dilation"));
            },
            [](const ModelConfig& c) { return json(c.attention_dilation); }},
      MDS_BOOL(global_target), MDS_INT(global_source_stride),
      MDS_INT(moe_experts), MDS_INT(moe_top_k), MDS_INT(moe_every), MDS_NUM(moe_capacity_factor),
      MDS_BOOL(moe_renormalize), MDS_NUM(moe_balance_weight), MDS_NUM(moe_z_weight),
      MDS_INT(diffusion_steps), MDS_STR(noise_schedule), MDS_BOOL(rescale_timesteps), MDS_BOOL(absorbing),
      MDS_NUM(absorb_rate), MDS_NUM(absorb_reg), MDS_STR(loss_region), MDS_BOOL(mse_t0_clean),
      MDS_BOOL(prior_loss), MDS_NUM(rounding_weight),
  };
  return f;
}

#undef MDS_INT
#undef MDS_NUM
#undef MDS_BOOL
#undef MDS_STR

}  // namespace

std::vector<int> ModelConfig::head_dilations() const {
  if (attention_dilation.size() == 1) return std::vector<int>(heads, attention_dilation[0]);
  return attention_dilation;
}

const std::vector<std::string>& model_config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& f : fields()) k.push_back(f.key);
    return k;
  }();
  return keys;
}

ModelConfig model_config_from_json(const json& j) {
  if (!j.is_object()) throw_usage("model config: expected a JSON object, found {}", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  ModelConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const Field* f = nullptr;
    for (const auto& cand : fields())
      if (it.key() == cand.key) f = &cand;
    if (!f) {
      std::string valid;
      for (const auto& k : model_config_keys()) valid += (valid.empty() ? "" : ", ") + k;
      throw_usage("model config: unknown key '{}'; valid keys are: {}", it.key(), valid);
    }
    f->read(c, it.value());
  }
  validate_model_config(c);
  return c;
}

ModelConfig model_config_for_vocab(const json& j, int64_t vocab_size) {
  ModelConfig c = model_config_from_json(j);
  if (c.vocab_size != 0 && c.vocab_size != vocab_size)
    throw_usage("model config: field 'vocab_size' is {} but the tokenizer has {} ids (leave it 0 to take the tokenizer's)",
                c.vocab_size, vocab_size);
  c.vocab_size = vocab_size;
  validate_model_config(c);
  return c;
}

json model_config_to_json(const ModelConfig& c) {
  json j = json::object();
  for (const auto& f : fields()) j[f.key] = f.write(c);
  return j;
}

void validate_model_config(const ModelConfig& c) {
  auto need = [](bool ok, const char* field, const std::string& what) {
    if (!ok) throw_usage("model config: field '{}' {}", field, what);
  };
  need(c.vocab_size >= 0, "vocab_size", fmt::format("must be >= 0 (0 = from the tokenizer), got {}", c.vocab_size));
  need(c.vocab_size == 0 || c.vocab_size > kMaskId, "vocab_size",
       fmt::format("must exceed the special ids 0..{}, got {}", kMaskId, c.vocab_size));
  need(c.embed_dim >= 1, "embed_dim", fmt::format("must be >= 1, got {}", c.embed_dim));
  need(c.hidden_dim >= 1, "hidden_dim", fmt::format("must be >= 1, got {}", c.hidden_dim));
  need(c.layers >= 1, "layers", fmt::format("must be >= 1, got {}", c.layers));
  need(c.heads >= 1, "heads", fmt::format("must be >= 1, got {}", c.heads));
  need(c.hidden_dim % std::max(c.heads, 1) == 0, "heads",
       fmt::format("must divide hidden_dim {}, got {}", c.hidden_dim, c.heads));
  need(c.ffn_dim >= 1, "ffn_dim", fmt::format("must be >= 1, got {}", c.ffn_dim));
  need(c.time_embed_dim >= 2 && c.time_embed_dim % 2 == 0, "time_embed_dim",
       fmt::format("must be an even number >= 2, got {}", c.time_embed_dim));
  need(c.time_hidden_dim >= 1, "time_hidden_dim", fmt::format("must be >= 1, got {}", c.time_hidden_dim));
  // Every source is cut to max_src_len tokens when packed: 0 would train on
  // empty sources (the model could learn nothing about its input).
  need(c.max_src_len >= 1, "max_src_len",
       fmt::format("must be >= 1 (sources are cut to it; 0 leaves no room for any source token), got {}",
                   c.max_src_len));
  need(c.max_trg_len >= 1, "max_trg_len", fmt::format("must be >= 1, got {}", c.max_trg_len));
  // The packed sequence [CLS] src [SEP] trg [SEP] must have a position index
  // an int can hold; computed in 64 bits so the check itself cannot overflow.
  const int64_t sequence = int64_t{c.max_src_len} + c.max_trg_len + 3;
  need(sequence <= INT32_MAX, "max_src_len",
       fmt::format("+ max_trg_len + 3 must be at most {}, got {} + {} + 3 = {}", INT32_MAX, c.max_src_len,
                   c.max_trg_len, sequence));
  need(c.max_positions >= 0, "max_positions", fmt::format("must be >= 0, got {}", c.max_positions));
  need(c.max_positions == 0 || c.max_positions >= sequence, "max_positions",
       fmt::format("must be 0 or >= max_src_len + max_trg_len + 3 = {}, got {}", sequence, c.max_positions));
  need(c.dropout >= 0 && c.dropout < 1, "dropout", fmt::format("must be in [0, 1), got {}", c.dropout));
  need(c.layer_norm_eps > 0, "layer_norm_eps", fmt::format("must be > 0, got {}", c.layer_norm_eps));
  need(c.attention_window >= 0, "attention_window", fmt::format("must be >= 0 (0 = dense), got {}", c.attention_window));
  need(c.attention_dilation.size() == 1 || static_cast<int>(c.attention_dilation.size()) == c.heads,
       "attention_dilation",
       fmt::format("must have 1 or heads = {} entries, got {}", c.heads, c.attention_dilation.size()));
  for (int d : c.attention_dilation)
    need(d >= 1, "attention_dilation", fmt::format("entries must be >= 1, got {}", d));
  need(c.global_source_stride >= 0, "global_source_stride",
       fmt::format("must be >= 0 (0 = none), got {}", c.global_source_stride));
  need(c.moe_experts >= 0, "moe_experts", fmt::format("must be >= 0 (0 = dense FFN), got {}", c.moe_experts));
  if (c.moe_experts > 0) {
    need(c.moe_top_k >= 1 && c.moe_top_k <= c.moe_experts, "moe_top_k",
         fmt::format("must be in [1, moe_experts = {}], got {}", c.moe_experts, c.moe_top_k));
    need(c.moe_every >= 1, "moe_every", fmt::format("must be >= 1, got {}", c.moe_every));
  }
  need(c.moe_capacity_factor >= 0, "moe_capacity_factor",
       fmt::format("must be >= 0 (0 = dropless), got {}", c.moe_capacity_factor));
  need(c.moe_balance_weight >= 0, "moe_balance_weight", fmt::format("must be >= 0, got {}", c.moe_balance_weight));
  need(c.moe_z_weight >= 0, "moe_z_weight", fmt::format("must be >= 0, got {}", c.moe_z_weight));
  need(c.diffusion_steps >= 2, "diffusion_steps", fmt::format("must be >= 2, got {}", c.diffusion_steps));
  need(c.noise_schedule == "sqrt", "noise_schedule", fmt::format("must be \"sqrt\", got \"{}\"", c.noise_schedule));
  need(c.absorb_rate >= 0 && c.absorb_rate <= 1, "absorb_rate", fmt::format("must be in [0, 1], got {}", c.absorb_rate));
  need(c.absorb_reg >= 0, "absorb_reg", fmt::format("must be >= 0, got {}", c.absorb_reg));
  need(c.loss_region == "target" || c.loss_region == "sequence", "loss_region",
       fmt::format("must be \"target\" or \"sequence\", got \"{}\"", c.loss_region));
  need(c.rounding_weight >= 0, "rounding_weight", fmt::format("must be >= 0, got {}", c.rounding_weight));
}

}  // namespace mds
