// Parameter creation (names and shapes) and initialisation of the network.
#include <cmath>

#include "backend/rng.h"
#include "core/error.h"
#include "model/network.h"

namespace mds {

namespace {

LinearIds add_linear(ParamStore& s, const std::string& name, int64_t in, int64_t out, bool bias = true) {
  LinearIds l;
  l.w = s.add(name + ".weight", {out, in});
  if (bias) l.b = s.add(name + ".bias", {out});
  return l;
}

NormIds add_norm(ParamStore& s, const std::string& name, int64_t dim) {
  return NormIds{s.add(name + ".weight", {dim}), s.add(name + ".bias", {dim})};
}

uint64_t name_hash(const std::string& s) {  // FNV-1a
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

NetworkIds build_parameters(ParamStore& s, const ModelConfig& c) {
  if (c.vocab_size <= 0) throw_usage("model config: vocab_size must be set (from the tokenizer) before building a model");
  const int64_t V = c.vocab_size, d = c.embed_dim, H = c.hidden_dim, F = c.ffn_dim;
  NetworkIds n;
  n.word_embedding = s.add("word_embedding", {V, d});
  n.lm_bias = s.add("lm_head.bias", {V});
  n.mean_embed = s.add("mean_embed", {d});
  n.time1 = add_linear(s, "time_embed.0", c.time_embed_dim, c.time_hidden_dim);
  n.time2 = add_linear(s, "time_embed.2", c.time_hidden_dim, H);
  n.up1 = add_linear(s, "input_up_proj.0", d, H);
  n.up2 = add_linear(s, "input_up_proj.2", H, H);
  n.position = s.add("position_embedding", {c.positions(), H});
  n.ln_in = add_norm(s, "input_layer_norm", H);
  for (int i = 0; i < c.layers; ++i) {
    const std::string p = "layer." + std::to_string(i) + ".";
    LayerIds l;
    l.qkv = add_linear(s, p + "attention.qkv", H, 3 * H);
    l.out = add_linear(s, p + "attention.out", H, H);
    l.ln_attn = add_norm(s, p + "attention.layer_norm", H);
    l.moe = c.is_moe_layer(i);
    if (l.moe) {
      const int64_t E = c.moe_experts;
      l.router = s.add(p + "moe.router.weight", {E, H});
      l.ff1 = LinearIds{s.add(p + "moe.w1", {E, F, H}), s.add(p + "moe.b1", {E, F})};
      l.ff2 = LinearIds{s.add(p + "moe.w2", {E, H, F}), s.add(p + "moe.b2", {E, H})};
    } else {
      l.ff1 = add_linear(s, p + "ffn.0", H, F);
      l.ff2 = add_linear(s, p + "ffn.2", F, H);
    }
    l.ln_ffn = add_norm(s, p + "ffn.layer_norm", H);
    n.layers.push_back(l);
  }
  n.down1 = add_linear(s, "output_down_proj.0", H, H);
  n.down2 = add_linear(s, "output_down_proj.2", H, d);
  return n;
}

void init_parameters(Backend& be, ParamStore& s, const ModelConfig& c, uint64_t seed) {
  for (auto& p : s.all()) {
    const uint64_t key = rng::combine(seed, name_hash(p.name));
    const int64_t n = p.value.numel();
    std::vector<double> v(static_cast<size_t>(n));
    // fan_in of the layer a tensor belongs to: the last weight dimension.
    auto uniform = [&](double bound) {
      for (int64_t i = 0; i < n; ++i) v[i] = bound * (2.0 * rng::uniform(key, 0, uint64_t(i)) - 1.0);
    };
    auto normal = [&](double std) {
      for (int64_t i = 0; i < n; ++i) v[i] = std * rng::normal(key, 0, uint64_t(i));
    };
    const std::string& nm = p.name;
    if (nm == "word_embedding" || nm == "position_embedding") {
      normal(1.0);
    } else if (nm == "mean_embed") {
      normal(1.0 / std::sqrt(double(c.embed_dim)));  // DiffuSeq-v2: N(0, d^-1/2)
    } else if (nm == "lm_head.bias") {
      uniform(1.0 / std::sqrt(double(c.embed_dim)));
    } else if (nm.find("layer_norm") != std::string::npos) {
      std::fill(v.begin(), v.end(), ends_with(nm, ".weight") ? 1.0 : 0.0);
    } else if (ends_with(nm, ".weight") || ends_with(nm, "moe.w1") || ends_with(nm, "moe.w2")) {
      uniform(1.0 / std::sqrt(double(p.shape.back())));
    } else if (ends_with(nm, ".bias") || ends_with(nm, "moe.b1") || ends_with(nm, "moe.b2")) {
      // A bias shares its layer's fan-in: the input width of the matching weight.
      const std::string wname = ends_with(nm, ".bias") ? nm.substr(0, nm.size() - 5) + ".weight"
                                                       : nm.substr(0, nm.size() - 2) + "w" + nm.substr(nm.size() - 1);
      const int wi = s.find(wname);
      if (wi < 0) throw_runtime("init: no weight '{}' for bias '{}'", wname, nm);
      uniform(1.0 / std::sqrt(double(s.at(wi).shape.back())));
    } else {
      throw_runtime("init: no rule for parameter '{}'", nm);
    }
    be.upload(p.value, v.data());
    p.ema = be.alloc(p.shape);
    be.copy(p.value, p.ema);
  }
}

}  // namespace mds
