// Strict parsing of the "train" config object and "--set" overrides. One table
// describes every field (type, range, default, documentation) so the parser,
// the error messages and the documentation test cannot drift apart.
#include "train/train_config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "core/error.h"
#include "io/json_text.h"
#include "io/jsonl.h"

namespace mds::train {

using nlohmann::json;

const char* lr_schedule_name(LrSchedule s) {
  switch (s) {
    case LrSchedule::constant: return "constant";
    case LrSchedule::linear: return "linear";
    case LrSchedule::cosine: return "cosine";
  }
  return "?";
}

const char* timestep_sampling_name(TimestepSampling s) {
  return s == TimestepSampling::uniform ? "uniform" : "loss_aware";
}

namespace {

std::string show(const json& v) {
  // Replace: a --set string or a key need not be UTF-8 by the time it is
  // shown, and a message must never fail to print.
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

struct Field {
  FieldInfo info;
  std::function<void(TrainConfig&, const json&, const std::string&)> set;
  std::function<json(const TrainConfig&)> get;
};

[[noreturn]] void bad_value(const std::string& where, const std::string& name, const std::string& expected,
                            const json& found) {
  throw_usage("{}.{}: expected {}, found {}", where, name, expected, show(found));
}

// Integers may be written as 1000 or 1e3, but not 2.5.
bool as_integer(const json& v, long double& out) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    out = v.is_number_unsigned() ? static_cast<long double>(v.get<uint64_t>()) : static_cast<long double>(v.get<int64_t>());
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d) {
      out = d;
      return true;
    }
  }
  return false;
}

Field int_field(const char* name, int64_t TrainConfig::*m, int64_t lo, int64_t hi, const char* doc) {
  Field f;
  f.info = {name, "integer", json(TrainConfig{}.*m), doc};
  std::string expected = hi == std::numeric_limits<int64_t>::max()
                             ? fmt::format("an integer >= {}", lo)
                             : fmt::format("an integer in [{}, {}]", lo, hi);
  f.set = [m, lo, hi, expected, name](TrainConfig& c, const json& v, const std::string& where) {
    long double x;
    if (!as_integer(v, x) || x < lo || x > hi) bad_value(where, name, expected, v);
    c.*m = static_cast<int64_t>(x);
  };
  f.get = [m](const TrainConfig& c) { return json(c.*m); };
  return f;
}

// A number in a range; lo_open/hi_open exclude the bound.
Field num_field(const char* name, double TrainConfig::*m, double lo, bool lo_open, double hi, bool hi_open,
                const char* doc) {
  Field f;
  f.info = {name, "number", json(TrainConfig{}.*m), doc};
  std::string expected;
  if (std::isinf(hi))
    expected = fmt::format("a number {} {}", lo_open ? ">" : ">=", lo);
  else
    expected = fmt::format("a number in {}{}, {}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
  f.set = [=](TrainConfig& c, const json& v, const std::string& where) {
    if (!v.is_number()) bad_value(where, name, expected, v);
    double x = v.get<double>();
    bool ok = std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
    if (!ok) bad_value(where, name, expected, v);
    c.*m = x;
  };
  f.get = [m](const TrainConfig& c) { return json(c.*m); };
  return f;
}

Field bool_field(const char* name, bool TrainConfig::*m, const char* doc) {
  Field f;
  f.info = {name, "boolean", json(TrainConfig{}.*m), doc};
  f.set = [=](TrainConfig& c, const json& v, const std::string& where) {
    if (!v.is_boolean()) bad_value(where, name, "true or false", v);
    c.*m = v.get<bool>();
  };
  f.get = [m](const TrainConfig& c) { return json(c.*m); };
  return f;
}

template <typename E>
Field enum_field(const char* name, E TrainConfig::*m, std::vector<E> values, const char* (*to_name)(E),
                 const char* doc) {
  std::string names, listed;
  for (E e : values) {
    names += (names.empty() ? "" : "|") + std::string(to_name(e));
    listed += (listed.empty() ? "" : ", ") + std::string(to_name(e));
  }
  Field f;
  f.info = {name, "string (" + listed + ")", json(to_name(TrainConfig{}.*m)), doc};
  f.set = [=](TrainConfig& c, const json& v, const std::string& where) {
    if (v.is_string())
      for (E e : values)
        if (v.get<std::string>() == to_name(e)) {
          c.*m = e;
          return;
        }
    bad_value(where, name, "one of \"" + names + "\"", v);
  };
  f.get = [m, to_name](const TrainConfig& c) { return json(to_name(c.*m)); };
  return f;
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

const std::vector<Field>& fields() {
  static const std::vector<Field> table = [] {
    std::vector<Field> t;
    t.push_back(int_field("steps", &TrainConfig::steps, 1, kMax, "optimizer updates in the whole run"));
    t.push_back(int_field("batch_size", &TrainConfig::batch_size, 1, kMax, "examples per micro-batch"));
    t.push_back(int_field("max_batch_tokens", &TrainConfig::max_batch_tokens, 0, kMax,
                          "cap on batch x packed length of a micro-batch (0 = no cap)"));
    t.push_back(int_field("grad_accum", &TrainConfig::grad_accum, 1, kMax,
                          "micro-batches whose gradients are averaged into one update"));
    t.push_back(bool_field("shuffle", &TrainConfig::shuffle, "shuffle the examples every epoch (seeded)"));
    t.push_back(int_field("bucket_pool", &TrainConfig::bucket_pool, 0, kMax,
                          "batches per pool sorted by source length (0 = sort the whole epoch)"));
    t.push_back(num_field("lr", &TrainConfig::lr, 0, true, kInf, false, "peak learning rate"));
    t.push_back(enum_field<LrSchedule>("lr_schedule", &TrainConfig::lr_schedule,
                                       {LrSchedule::constant, LrSchedule::linear, LrSchedule::cosine},
                                       lr_schedule_name, "decay after warmup"));
    t.push_back(int_field("warmup_steps", &TrainConfig::warmup_steps, 0, kMax, "linear warmup from 0 to lr"));
    t.push_back(int_field("decay_steps", &TrainConfig::decay_steps, 0, kMax,
                          "step at which the decay reaches final_lr (0 = steps)"));
    t.push_back(num_field("final_lr", &TrainConfig::final_lr, 0, false, kInf, false, "learning rate at the end of the decay"));
    t.push_back(num_field("beta1", &TrainConfig::beta1, 0, false, 1, true, "AdamW first-moment decay"));
    t.push_back(num_field("beta2", &TrainConfig::beta2, 0, false, 1, true, "AdamW second-moment decay"));
    t.push_back(num_field("eps", &TrainConfig::eps, 0, true, kInf, false, "AdamW epsilon"));
    t.push_back(num_field("weight_decay", &TrainConfig::weight_decay, 0, false, kInf, false,
                          "AdamW decoupled weight decay"));
    t.push_back(num_field("grad_clip", &TrainConfig::grad_clip, 0, false, kInf, false,
                          "clip the global gradient L2 norm to this (0 = off)"));
    t.push_back(num_field("ema_decay", &TrainConfig::ema_decay, 0, false, 1, false, "EMA decay of the weights"));
    t.push_back(enum_field<TimestepSampling>("timestep_sampler", &TrainConfig::timestep_sampler,
                                             {TimestepSampling::uniform, TimestepSampling::loss_aware},
                                             timestep_sampling_name, "how diffusion timesteps are drawn"));
    t.push_back(int_field("loss_aware_history", &TrainConfig::loss_aware_history, 1, 1000000,
                          "losses remembered per timestep by the loss-aware sampler"));
    t.push_back(num_field("loss_aware_uniform", &TrainConfig::loss_aware_uniform, 0, false, 1, false,
                          "share of the uniform distribution mixed into the loss-aware one"));
    {
      Field f;
      f.info = {"seed", "integer", json(TrainConfig{}.seed), "seed of every random choice of the run"};
      f.set = [](TrainConfig& c, const json& v, const std::string& where) {
        long double x;
        if (v.is_number_unsigned()) {
          c.seed = v.get<uint64_t>();
          return;
        }
        if (!as_integer(v, x) || x < 0 || x > 18446744073709551615.0L) bad_value(where, "seed", "an integer >= 0", v);
        c.seed = static_cast<uint64_t>(x);
      };
      f.get = [](const TrainConfig& c) { return json(c.seed); };
      t.push_back(f);
    }
    t.push_back(bool_field("skip_nonfinite", &TrainConfig::skip_nonfinite,
                           "skip and count updates whose loss or gradient is not finite instead of stopping"));
    t.push_back(int_field("max_nonfinite_in_a_row", &TrainConfig::max_nonfinite_in_a_row, 1, kMax,
                          "with skip_nonfinite, stop after this many skipped updates in a row"));
    t.push_back(int_field("log_every", &TrainConfig::log_every, 0, kMax, "steps between metrics lines (0 = none)"));
    t.push_back(int_field("valid_every", &TrainConfig::valid_every, 0, kMax,
                          "steps between validation losses (0 = never)"));
    t.push_back(int_field("valid_max_batches", &TrainConfig::valid_max_batches, 0, kMax,
                          "validation batches per evaluation (0 = all)"));
    t.push_back(int_field("checkpoint_every", &TrainConfig::checkpoint_every, 0, kMax,
                          "steps between checkpoints (0 = only at the end)"));
    return t;
  }();
  return table;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const std::vector<FieldInfo>& train_fields() {
  static const std::vector<FieldInfo> infos = [] {
    std::vector<FieldInfo> v;
    for (const Field& f : fields()) v.push_back(f.info);
    return v;
  }();
  return infos;
}

TrainConfig train_config_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw_usage("{}: expected a JSON object, found {}", where, show(j));
  TrainConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const Field* field = nullptr;
    for (const Field& f : fields())
      if (f.info.name == it.key()) field = &f;
    if (!field) {
      std::string valid, best;
      size_t best_d = 3;
      for (const Field& f : fields()) {
        valid += (valid.empty() ? "" : ", ") + f.info.name;
        size_t d = edit_distance(it.key(), f.info.name);
        if (d < best_d) best_d = d, best = f.info.name;
      }
      throw_usage("{}: unknown key \"{}\"{}; valid keys: {}", where, it.key(),
                  best.empty() ? "" : " (did you mean \"" + best + "\"?)", valid);
    }
    field->set(c, it.value(), where);
  }
  validate(c, where);
  return c;
}

json train_config_to_json(const TrainConfig& c) {
  json j = json::object();
  for (const Field& f : fields()) j[f.info.name] = f.get(c);
  return j;
}

void validate(const TrainConfig& c, const std::string& where) {
  if (c.lr_schedule != LrSchedule::constant && c.warmup_steps > c.effective_decay_steps())
    throw_usage("{}.warmup_steps: expected at most the decay horizon ({} = {}), found {}", where,
                c.decay_steps > 0 ? "decay_steps" : "steps", c.effective_decay_steps(), c.warmup_steps);
  if (c.final_lr > c.lr)
    throw_usage("{}.final_lr: expected at most lr ({}), found {}", where, c.lr, c.final_lr);
}

void apply_override(json& doc, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw_usage("--set {}: expected PATH=VALUE (e.g. train.lr=3e-4)", assignment);
  // Config text is UTF-8 (JSON); a stray byte would otherwise reach the
  // checkpoint's metadata, which could then not be written.
  size_t bad = 0;
  if (!is_valid_utf8(assignment, &bad))
    throw_usage("--set {}: invalid UTF-8 at byte {}: expected UTF-8 text", assignment, bad + 1);
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value;
  JsonParseError e;
  if (!parse_json(text, value, &e)) {
    // A number too large for a double or a value nested too deeply is JSON
    // gone wrong, not a bare word: say so instead of storing it as a string.
    if (e.kind != JsonParseError::Kind::syntax)
      throw_usage("--set {}: {}", assignment, e.describe(fmt::format("at byte {} of the value", e.byte)));
    value = text;  // bare words are strings
  }
  json* node = &doc;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) throw_usage("--set {}: empty component in path \"{}\"", assignment, path);
    if (node->is_null()) *node = json::object();
    if (!node->is_object())
      throw_usage("--set {}: \"{}\" is inside a {} value, not an object", assignment, key, node->type_name());
    node = &(*node)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  *node = std::move(value);
}

}  // namespace mds::train
