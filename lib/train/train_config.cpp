// The "train" config object declared in the config schema (io/config_schema.h):
// one table gives every field's type, range, default and documentation, so
// the parser, its messages and docs/config.md cannot drift apart; and the
// "--set" overrides.
#include "train/train_config.h"

#include "core/error.h"
#include "io/config_schema.h"
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

std::string lr_schedule_text(const LrSchedule& s) { return lr_schedule_name(s); }
std::string timestep_sampling_text(const TimestepSampling& s) { return timestep_sampling_name(s); }

constexpr double kInf = schema::kInf;

// The meanings are those of docs/config.md (generated from this table).
const ConfigSchema<TrainConfig>& train_schema() {
  static const ConfigSchema<TrainConfig> s = [] {
    using C = TrainConfig;
    ConfigSchema<C> t;
    t.section("Length of the run and batching")
        .integer("steps", &C::steps, 1, "optimizer updates in the whole run (a resumed run counts from its checkpoint's step)")
        .integer("batch_size", &C::batch_size, 1, "examples per micro-batch")
        .integer("max_batch_tokens", &C::max_batch_tokens, 0,
                 "cap on B × L (examples × packed length) of a micro-batch, so batches of long sources hold fewer "
                 "examples; 0 = no cap")
        .integer("grad_accum", &C::grad_accum, 1,
                 "micro-batches per update; their gradients are averaged (each is scaled by 1/grad_accum)")
        .boolean("shuffle", &C::shuffle, "shuffle the examples every epoch, seeded by (seed, epoch)")
        .integer("bucket_pool", &C::bucket_pool, 0,
                 "batches per pool sorted by source length (docs/training.md, \"Data\"); 0 = sort the whole epoch, "
                 "1 = no bucketing");
    t.section("Optimizer and learning rate")
        .number("lr", &C::lr, 0, true, kInf, false, "peak learning rate")
        .choice<LrSchedule>("lr_schedule", &C::lr_schedule,
                            {LrSchedule::constant, LrSchedule::linear, LrSchedule::cosine}, lr_schedule_text,
                            "shape of the decay after warmup")
        .integer("warmup_steps", &C::warmup_steps, 0, "linear warmup: update s (0-based) uses lr·(s+1)/warmup_steps")
        .integer("decay_steps", &C::decay_steps, 0,
                 "step at which the decay reaches `final_lr` (0 = `steps`); set it to keep the schedule when "
                 "`steps` changes")
        .number("final_lr", &C::final_lr, 0, false, kInf, false, "learning rate at the end of the decay (at most `lr`)")
        .number("beta1", &C::beta1, 0, false, 1, true, "AdamW first-moment decay")
        .number("beta2", &C::beta2, 0, false, 1, true, "AdamW second-moment decay")
        .number("eps", &C::eps, 0, true, kInf, false, "AdamW epsilon")
        .number("weight_decay", &C::weight_decay, 0, false, kInf, false, "AdamW decoupled weight decay")
        .number("grad_clip", &C::grad_clip, 0, false, kInf, false,
                "clip the global gradient L2 norm to this value (scale by clip/(norm + 1e-6) when above it); 0 = off")
        .number("ema_decay", &C::ema_decay, 0, false, 1, false,
                "EMA of the weights, updated after every update: ema = d·ema + (1 − d)·w (sampling uses the EMA)");
    t.section("Timestep sampling")
        .choice<TimestepSampling>("timestep_sampler", &C::timestep_sampler,
                                  {TimestepSampling::uniform, TimestepSampling::loss_aware}, timestep_sampling_text,
                                  "how diffusion timesteps are drawn (docs/training.md, \"Timestep sampling\")")
        .integer("loss_aware_history", &C::loss_aware_history, 1,
                 "losses remembered per timestep by the loss-aware sampler", "", "", 1000000)
        .number("loss_aware_uniform", &C::loss_aware_uniform, 0, false, 1, false,
                "share of the uniform distribution mixed into the loss-aware one");
    t.section("Reproducibility and robustness")
        .integer("seed", &C::seed, 0, "seed of every random choice: initial weights, data order, timesteps, noise")
        .boolean("skip_nonfinite", &C::skip_nonfinite,
                 "skip (and count) updates whose loss or gradient is not finite instead of stopping")
        .integer("max_nonfinite_in_a_row", &C::max_nonfinite_in_a_row, 1,
                 "with `skip_nonfinite`, stop after this many skipped updates in a row");
    t.section("Periodic work")
        .integer("log_every", &C::log_every, 0, "steps between `train` metrics lines (0 = none)")
        .integer("valid_every", &C::valid_every, 0, "steps between validation losses (0 = never); needs `--valid`")
        .integer("valid_max_batches", &C::valid_max_batches, 0,
                 "validation batches per evaluation (0 = the whole validation set)")
        .integer("checkpoint_every", &C::checkpoint_every, 0,
                 "steps between checkpoints (0 = only at the end); one is always written at the end");
    // Cross-field checks.
    t.check([](const C& c, const std::string& where) {
      if (c.lr_schedule != LrSchedule::constant && c.warmup_steps > c.effective_decay_steps())
        throw_usage("{}.warmup_steps: expected at most the decay horizon ({} = {}), found {}", where,
                    c.decay_steps > 0 ? "decay_steps" : "steps", c.effective_decay_steps(), c.warmup_steps);
      if (c.final_lr > c.lr) throw_usage("{}.final_lr: expected at most lr ({}), found {}", where, c.lr, c.final_lr);
    });
    return t;
  }();
  return s;
}

}  // namespace

const std::vector<FieldInfo>& train_fields() { return train_schema().fields(); }

TrainConfig train_config_from_json(const json& j, const std::string& where) { return train_schema().parse(j, where); }

json train_config_to_json(const TrainConfig& c) { return train_schema().to_json(c); }

void validate(const TrainConfig& c, const std::string& where) { train_schema().validate(c, where); }

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
