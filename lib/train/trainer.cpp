// The training loop (see trainer.h). Every random choice is keyed by
// (seed, stream, micro-batch index) through train/rng.h, and the data order by
// (seed, epoch), so a checkpoint needs only counters, the data position and
// the sampler history besides the model state to resume bit-exactly.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "dist/communicator.h"
#include "train/checkpoint.h"
#include "train/lr_schedule.h"
#include "train/rng.h"

namespace mds::train {

using nlohmann::json;
using ojson = nlohmann::ordered_json;  // metrics lines keep their key order

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Sums LossTerms (scalars and expert loads) so means can be taken later.
void add_terms(LossTerms& acc, const LossTerms& x, double w) {
  acc.total += w * x.total;
  acc.mse += w * x.mse;
  acc.rounding_nll += w * x.rounding_nll;
  acc.prior += w * x.prior;
  acc.absorb_reg += w * x.absorb_reg;
  acc.moe_balance += w * x.moe_balance;
  acc.moe_z += w * x.moe_z;
  if (acc.expert_load.size() < x.expert_load.size()) acc.expert_load.resize(x.expert_load.size());
  for (size_t l = 0; l < x.expert_load.size(); ++l) {
    if (acc.expert_load[l].size() < x.expert_load[l].size()) acc.expert_load[l].resize(x.expert_load[l].size(), 0.0);
    for (size_t e = 0; e < x.expert_load[l].size(); ++e) acc.expert_load[l][e] += w * x.expert_load[l][e];
  }
}

LossTerms scaled(const LossTerms& x, double f) {
  LossTerms out;
  add_terms(out, x, f);
  return out;
}

ojson terms_json(const LossTerms& t) {
  return {{"loss", t.total},           {"mse", t.mse},
          {"rounding_nll", t.rounding_nll}, {"prior", t.prior},
          {"absorb_reg", t.absorb_reg}, {"moe_balance", t.moe_balance},
          {"moe_z", t.moe_z}};
}

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

// One micro-batch's (or validation batch's) outcome as the ranks exchange
// it: merged in index order, every rank sums the same numbers in the same
// order as one rank would, so metrics and the loss-aware sampler's history
// do not depend on the number of ranks.
struct Outcome {
  int64_t index = 0;
  bool ok = true;  // finite loss (a failed one carries only its counts)
  LossTerms terms;
  std::vector<int32_t> t;
  int64_t tokens = 0, examples = 0;
};

json outcome_json(const Outcome& o) {
  json j = {{"i", o.index}, {"ok", o.ok}, {"tok", o.tokens}, {"ex", o.examples}};
  if (!o.ok) return j;
  const LossTerms& x = o.terms;
  j["v"] = {x.total, x.mse, x.rounding_nll, x.prior, x.absorb_reg, x.moe_balance, x.moe_z, x.moe_drop_fraction};
  j["pe"] = x.per_example;
  j["el"] = x.expert_load;
  j["t"] = o.t;
  return j;
}

Outcome outcome_from_json(const json& j) {
  Outcome o;
  o.index = j.at("i").get<int64_t>();
  o.ok = j.at("ok").get<bool>();
  o.tokens = j.at("tok").get<int64_t>();
  o.examples = j.at("ex").get<int64_t>();
  if (!o.ok) return o;
  const std::vector<double> v = j.at("v").get<std::vector<double>>();
  LossTerms& x = o.terms;
  x.total = v.at(0), x.mse = v.at(1), x.rounding_nll = v.at(2), x.prior = v.at(3);
  x.absorb_reg = v.at(4), x.moe_balance = v.at(5), x.moe_z = v.at(6), x.moe_drop_fraction = v.at(7);
  x.per_example = j.at("pe").get<std::vector<double>>();
  x.expert_load = j.at("el").get<std::vector<std::vector<double>>>();
  o.t = j.at("t").get<std::vector<int32_t>>();
  return o;
}

// Every rank's outcomes and failure message, merged in index order; the
// failure is the lowest rank's, named by rank when there are several ranks.
std::vector<Outcome> exchange(dist::Communicator* comm, std::vector<Outcome> mine, std::string& failure) {
  if (!comm) return mine;
  json j = {{"failure", failure}, {"outcomes", json::array()}};
  for (const Outcome& o : mine) j["outcomes"].push_back(outcome_json(o));
  const std::vector<uint8_t> cbor = json::to_cbor(j);
  const std::vector<std::string> all = comm->all_gather_bytes(std::string(cbor.begin(), cbor.end()));
  std::vector<Outcome> merged;
  failure.clear();
  for (size_t q = 0; q < all.size(); ++q) {
    const json r = json::from_cbor(all[q].begin(), all[q].end());
    const std::string f = r.at("failure").get<std::string>();
    if (failure.empty() && !f.empty()) failure = fmt::format("rank {}: {}", q, f);
    for (const json& o : r.at("outcomes")) merged.push_back(outcome_from_json(o));
  }
  std::sort(merged.begin(), merged.end(), [](const Outcome& a, const Outcome& b) { return a.index < b.index; });
  return merged;
}

}  // namespace

// Sums over the steps since the last metrics line.
struct Trainer::Interval {
  int64_t steps = 0;
  LossTerms terms;  // sums of per-step means
  double grad_norm = 0;
  double lr = 0;
  int64_t tokens = 0, examples = 0;
  double seconds = 0;
};

Trainer::Trainer(TrainableModel& model, const TrainConfig& config, const Dataset& train, const Dataset* valid,
                 TrainerSetup setup)
    : model_(model),
      cfg_(config),
      train_(train),
      valid_(valid),
      setup_(std::move(setup)),
      sampler_(config.timestep_sampler, setup_.num_timesteps, static_cast<int>(config.loss_aware_history),
               config.loss_aware_uniform),
      interval_(std::make_unique<Interval>()) {
  if (!setup_.pack) throw_usage("trainer: no batch packer was given");
  train::validate(cfg_);
  stream_ = std::make_unique<BatchStream>(train_, batching(train_));
}

Trainer::~Trainer() = default;

BatchingOptions Trainer::batching(const Dataset&) const {
  BatchingOptions o;
  o.batch_size = cfg_.batch_size;
  o.max_batch_tokens = cfg_.max_batch_tokens;
  o.bucket_pool = cfg_.bucket_pool;
  o.shuffle = cfg_.shuffle;
  o.seed = cfg_.seed;
  o.max_src_len = setup_.max_src_len;
  o.max_trg_len = setup_.max_trg_len;
  return o;
}

DataPosition Trainer::data_position() const { return stream_->position(); }

// What must be equal for a saved data position to mean the same batches.
static json data_identity(const Dataset& d, const BatchingOptions& o) {
  return {{"records", d.size()},
          {"fingerprint", hex64(d.fingerprint())},
          {"batch_size", o.batch_size},
          {"max_batch_tokens", o.max_batch_tokens},
          {"bucket_pool", o.bucket_pool},
          {"shuffle", o.shuffle},
          {"seed", o.seed},
          {"max_src_len", o.max_src_len},
          {"max_trg_len", o.max_trg_len}};
}

int Trainer::rank() const { return setup_.comm ? setup_.comm->rank() : 0; }
int Trainer::world() const { return setup_.comm ? setup_.comm->world_size() : 1; }

bool Trainer::train_step() {
  const double t0 = now_seconds();
  model_.zero_grad();
  LossTerms sum;
  std::vector<int32_t> all_t, t;
  std::vector<double> all_loss, w;
  int64_t tokens = 0, examples = 0, done = 0;
  std::string failure;
  const double scale = 1.0 / static_cast<double>(cfg_.grad_accum);
  // Micro-batch k of the update is rank k % W's; every rank walks the whole
  // stream so all agree on the data position. After a failure the rank's
  // remaining micro-batches are drawn but not computed.
  const int W = world(), R = rank();
  const int64_t mine = R < cfg_.grad_accum ? (cfg_.grad_accum - R + W - 1) / W : 0;
  std::vector<Outcome> outcomes;
  int64_t computed = 0;
  for (int64_t k = 0; k < cfg_.grad_accum; ++k) {
    const std::vector<uint64_t> ids = stream_->next();
    const uint64_t key = micro_batches_++;
    if (k % W != R || !failure.empty()) continue;
    const Batch batch = setup_.pack(train_, ids);
    Rng rng(derive_seed(cfg_.seed, Stream::timesteps, key));
    sampler_.sample(rng, batch.batch_size, t, w);
    if (++computed == mine) model_.begin_last_micro_batch();
    Outcome o;
    o.index = k;
    o.terms = model_.forward_backward(batch, t, w, derive_seed(cfg_.seed, Stream::noise, key), scale);
    o.examples = batch.batch_size;
    for (int32_t len : batch.lengths) o.tokens += len;
    o.ok = std::isfinite(o.terms.total);
    if (!o.ok) failure = fmt::format("the loss of micro-batch {} of {} is {}", k + 1, cfg_.grad_accum, o.terms.total);
    o.t = t;
    outcomes.push_back(std::move(o));
  }
  // Every rank reduces (also after a failure anywhere: all make the same calls).
  model_.finish_gradient_reduction();
  for (const Outcome& o : exchange(setup_.comm, std::move(outcomes), failure)) {
    examples += o.examples;
    tokens += o.tokens;
    if (!o.ok) continue;
    add_terms(sum, o.terms, 1.0);
    ++done;
    if (o.terms.per_example.size() == o.t.size()) {  // a model that reports no per-example losses teaches the sampler nothing
      all_t.insert(all_t.end(), o.t.begin(), o.t.end());
      all_loss.insert(all_loss.end(), o.terms.per_example.begin(), o.terms.per_example.end());
    }
  }
  examples_seen_ += examples;
  tokens_seen_ += tokens;
  double norm = 0;
  if (failure.empty()) {
    bool finite = true;
    norm = model_.grad_norm(&finite);
    if (!finite || !std::isfinite(norm)) failure = "the gradient is not finite";
  }
  if (!failure.empty()) {
    const DataPosition p = stream_->position();
    if (!cfg_.skip_nonfinite)
      throw_runtime("step {}: {} (epoch {}, batch {}); no update was applied{}. Lower train.lr, set "
                    "train.grad_clip, or pass --skip-nonfinite to skip such updates",
                    step_ + 1, failure, p.epoch, p.batch,
                    last_checkpoint_step_ >= 0 ? fmt::format(", the checkpoint of step {} is intact", last_checkpoint_step_)
                                               : std::string());
    ++skipped_;
    ++skipped_in_a_row_;
    if (setup_.reporter)
      setup_.reporter->metric({{"type", "skip"}, {"step", step_ + 1}, {"reason", failure},
                               {"nonfinite_skipped", skipped_}, {"epoch", p.epoch}, {"batch", p.batch}});
    if (skipped_in_a_row_ >= cfg_.max_nonfinite_in_a_row)
      throw_runtime("step {}: {} updates in a row were not finite (last: {}); stopping (train.max_nonfinite_in_a_row = {})",
                    step_ + 1, skipped_in_a_row_, failure, cfg_.max_nonfinite_in_a_row);
    return false;
  }
  if (cfg_.grad_clip > 0 && norm > cfg_.grad_clip) model_.scale_grad(cfg_.grad_clip / (norm + 1e-6));
  OptimizerSettings opt;
  opt.lr = learning_rate(cfg_, step_);
  opt.beta1 = cfg_.beta1;
  opt.beta2 = cfg_.beta2;
  opt.eps = cfg_.eps;
  opt.weight_decay = cfg_.weight_decay;
  model_.optimizer_step(opt);
  model_.ema_update(cfg_.ema_decay);
  sampler_.update(all_t, all_loss);
  ++step_;
  skipped_in_a_row_ = 0;

  const double seconds = now_seconds() - t0;
  run_seconds_ += seconds;
  Interval& iv = *interval_;
  ++iv.steps;
  add_terms(iv.terms, sum, 1.0 / static_cast<double>(done));
  iv.grad_norm += norm;
  iv.lr = opt.lr;
  iv.tokens += tokens;
  iv.examples += examples;
  iv.seconds += seconds;
  return true;
}

void Trainer::log_interval() {
  Interval& iv = *interval_;
  if (iv.steps == 0) return;
  const double n = static_cast<double>(iv.steps);
  const LossTerms mean = scaled(iv.terms, 1.0 / n);
  ojson line = {{"type", "train"}, {"step", step_}, {"epoch", stream_->position().epoch}};
  line.update(terms_json(mean));
  line["lr"] = iv.lr;
  line["grad_norm"] = iv.grad_norm / n;
  line["tokens_per_s"] = iv.seconds > 0 ? iv.tokens / iv.seconds : 0.0;
  line["examples_per_s"] = iv.seconds > 0 ? iv.examples / iv.seconds : 0.0;
  line["tokens"] = tokens_seen_;
  line["examples"] = examples_seen_;
  line["nonfinite_skipped"] = skipped_;
  line["expert_load"] = mean.expert_load;
  if (setup_.reporter) setup_.reporter->metric(line);
  iv = Interval{};
}

ValidationResult Trainer::validate() {
  ValidationResult r;
  if (!valid_ || valid_->empty()) return r;
  const BatchPlan plan = plan_in_order(*valid_, batching(*valid_));
  const size_t n = cfg_.valid_max_batches > 0 ? std::min(plan.size(), static_cast<size_t>(cfg_.valid_max_batches))
                                              : plan.size();
  // Batch b is rank b % W's; the outcomes are merged in batch order.
  std::vector<int32_t> t;
  std::vector<Outcome> mine;
  for (size_t b = static_cast<size_t>(rank()); b < n; b += static_cast<size_t>(world())) {
    const Batch batch = setup_.pack(*valid_, plan[b]);
    // Fixed timesteps per example and fixed noise per batch: successive
    // validations measure the same thing.
    t.resize(plan[b].size());
    for (size_t i = 0; i < plan[b].size(); ++i)
      t[i] = static_cast<int32_t>(Rng(derive_seed(cfg_.seed, Stream::valid, plan[b][i], 0)).below(sampler_.num_timesteps()));
    Outcome o;
    o.index = static_cast<int64_t>(b);
    o.terms = model_.evaluate(batch, t, derive_seed(cfg_.seed, Stream::valid, b, 1));
    o.examples = batch.batch_size;
    for (int32_t len : batch.lengths) o.tokens += len;
    mine.push_back(std::move(o));
  }
  std::string no_failure;
  LossTerms sum;
  for (const Outcome& o : exchange(setup_.comm, std::move(mine), no_failure)) {
    add_terms(sum, o.terms, static_cast<double>(o.examples));
    r.examples += o.examples;
    r.tokens += o.tokens;
  }
  if (r.examples > 0) r.mean = scaled(sum, 1.0 / static_cast<double>(r.examples));
  return r;
}

void Trainer::log_validation(const ValidationResult& v) {
  if (!setup_.reporter || v.examples == 0) return;
  ojson line = {{"type", "valid"}, {"step", step_}};
  line.update(terms_json(v.mean));
  line["examples"] = v.examples;
  line["tokens"] = v.tokens;
  line["expert_load"] = v.mean.expert_load;
  setup_.reporter->metric(line);
}

Container Trainer::checkpoint() const {
  Container c;
  c.kind = kCheckpointKind;
  model_.save_state(c);
  c.kind = kCheckpointKind;
  json sampler_meta;
  sampler_.save_state(c, "sampler/", sampler_meta);
  const DataPosition p = stream_->position();
  c.meta["trainer"] = {
      {"format", 1},
      {"step", step_},
      {"micro_batches", micro_batches_},
      {"examples_seen", examples_seen_},
      {"tokens_seen", tokens_seen_},
      {"nonfinite_skipped", skipped_},
      {"data_position", {{"epoch", p.epoch}, {"batch", p.batch}}},
      {"data", data_identity(train_, batching(train_))},
      {"seed", cfg_.seed},
      {"rng", "splitmix64 streams keyed by (seed, purpose, micro-batch index); data order by (seed, epoch)"},
      {"sampler", sampler_meta},
      {"model_parameters", model_.parameter_count()},
      {"backend", model_.backend_name()},
  };
  if (setup_.checkpoint_extras) setup_.checkpoint_extras(c);
  return c;
}

void Trainer::save_checkpoint() {
  if (setup_.checkpoint_path.empty()) return;
  // Every rank builds the checkpoint (a sharded model gathers its optimizer
  // state from all of them); rank 0 writes it.
  const Container c = checkpoint();
  if (rank() != 0) {
    last_checkpoint_step_ = step_;
    return;
  }
  write_checkpoint(setup_.checkpoint_path, c);
  last_checkpoint_step_ = step_;
  if (setup_.reporter)
    setup_.reporter->metric({{"type", "checkpoint"}, {"step", step_}, {"path", setup_.checkpoint_path}});
}

void Trainer::resume(const Container& ck) {
  const std::string src = ck.source.empty() ? "checkpoint" : ck.source;
  if (!ck.meta.contains("trainer") || !ck.meta["trainer"].is_object())
    throw_bad_input("{}: not a training checkpoint (no \"trainer\" metadata)", src);
  const json& t = ck.meta["trainer"];
  auto integer = [&](const json& obj, const char* key) -> int64_t {
    if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number_integer() || obj[key].get<int64_t>() < 0)
      throw_bad_input("{}: trainer metadata: expected a non-negative integer \"{}\"", src, key);
    return obj[key].get<int64_t>();
  };
  if (integer(t, "format") != 1)
    throw_bad_input("{}: trainer state format {} is not supported (expected 1)", src, integer(t, "format"));
  model_.load_state(ck);
  step_ = integer(t, "step");
  micro_batches_ = static_cast<uint64_t>(integer(t, "micro_batches"));
  examples_seen_ = integer(t, "examples_seen");
  tokens_seen_ = integer(t, "tokens_seen");
  skipped_ = integer(t, "nonfinite_skipped");
  skipped_in_a_row_ = 0;
  if (!t.contains("sampler")) throw_bad_input("{}: trainer metadata lacks \"sampler\"", src);
  sampler_.load_state(ck, "sampler/", t["sampler"]);
  if (!t.contains("data_position")) throw_bad_input("{}: trainer metadata lacks \"data_position\"", src);
  DataPosition pos{integer(t["data_position"], "epoch"), integer(t["data_position"], "batch")};
  const json now = data_identity(train_, batching(train_));
  if (t.value("data", json()) != now) {
    // Different data or batching: the saved position names other batches.
    if (setup_.reporter)
      setup_.reporter->warning(fmt::format(
          "{}: the training data or batching differs from the checkpoint's ({} vs {}); the data order restarts at "
          "the beginning of epoch {}, so this run will not reproduce an uninterrupted one",
          src, t.value("data", json()).dump(), now.dump(), pos.epoch));
    pos.batch = 0;
  }
  stream_ = std::make_unique<BatchStream>(train_, batching(train_), pos);
  last_checkpoint_step_ = -1;  // nothing written to this run's checkpoint path yet
  *interval_ = Interval{};
}

void Trainer::check_identity() {
  if (!setup_.comm) return;
  json mine = setup_.run_identity.is_null() ? json::object() : setup_.run_identity;
  mine["data"] = data_identity(train_, batching(train_));
  mine["train"] = train_config_to_json(cfg_);
  mine["world_size"] = world();
  mine["model_parameters"] = model_.parameter_count();
  mine["step"] = step_;
  const std::vector<std::string> all = setup_.comm->all_gather_bytes(mine.dump());
  const json first = json::parse(all[0]);
  for (size_t q = 1; q < all.size(); ++q) {
    const json other = json::parse(all[q]);
    if (other == first) continue;
    for (auto it = first.begin(); it != first.end(); ++it)
      if (!other.contains(it.key()) || other[it.key()] != it.value())
        throw_usage("rank {} differs from rank 0 in \"{}\" ({} vs {}): every rank must run the same config, "
                    "tokenizer, data and checkpoint",
                    q, it.key(), other.value(it.key(), json()).dump(), it.value().dump());
    throw_usage("rank {} differs from rank 0 ({} vs {})", q, other.dump(), first.dump());
  }
}

// A stop asked of any rank (a signal, or rank 0's lost metrics stream) stops
// them all after the same update.
bool Trainer::stop_requested(TrainResult& r) {
  const int local_signal = setup_.stop_flag ? static_cast<int>(*setup_.stop_flag) : 0;
  const bool metrics_lost = setup_.reporter && setup_.reporter->failure_errno() != 0;
  if (!setup_.comm) {
    if (local_signal != 0) r.interrupted = true, r.signal = local_signal;
    return local_signal != 0 || metrics_lost;
  }
  const std::vector<double> v =
      dist::all_reduce_host(*setup_.comm, {local_signal != 0 ? 1.0 : 0.0, double(local_signal), metrics_lost ? 1.0 : 0.0});
  if (v[0] > 0) {
    r.interrupted = true;
    // The signal of the rank that received one (the sum, when only one did).
    r.signal = local_signal != 0 ? local_signal : static_cast<int>(v[1] / v[0]);
  }
  return v[0] > 0 || v[2] > 0;
}

TrainResult Trainer::run() {
  TrainResult r;
  check_identity();
  const double wall0 = now_seconds();
  run_start_step_ = step_;
  Reporter* rep = setup_.reporter;
  if (rep)
    rep->metric({{"type", "start"},
                 {"step", step_},
                 {"steps", cfg_.steps},
                 {"parameters", model_.parameter_count()},
                 {"backend", model_.backend_name()},
                 {"train_examples", train_.size()},
                 {"valid_examples", valid_ ? valid_->size() : 0},
                 {"batches_per_epoch", stream_->batches_per_epoch()},
                 {"train", ojson::parse(train_config_to_json(cfg_).dump())}});
  int64_t last_valid_step = -1;
  double shown_loss = NAN, shown_tps = 0;  // kept across metrics lines, which reset the interval
  auto progress = [&](bool force) {
    if (!rep) return;
    if (interval_->steps > 0) shown_loss = interval_->terms.total / interval_->steps;
    if (interval_->seconds > 0) shown_tps = interval_->tokens / interval_->seconds;
    ProgressState s;
    s.step = step_;
    s.total_steps = cfg_.steps;
    s.loss = shown_loss;
    s.tokens_per_s = shown_tps;
    const int64_t done = step_ - run_start_step_;
    s.eta_s = done > 0 ? (now_seconds() - wall0) / done * (cfg_.steps - step_) : -1;
    rep->progress(s, force);
  };
  progress(true);
  bool metrics_stop = false;
  while (step_ < cfg_.steps) {
    // A signal, or a lost metrics stream (full disk, closed pipe), must not
    // cost the training done so far: stop here and save.
    if (stop_requested(r)) {
      metrics_stop = !r.interrupted;
      break;
    }
    if (!train_step()) continue;
    progress(false);  // before log_interval resets the interval sums
    if (cfg_.log_every > 0 && step_ % cfg_.log_every == 0) log_interval();
    if (valid_ && cfg_.valid_every > 0 && step_ % cfg_.valid_every == 0) {
      log_validation(validate());
      last_valid_step = step_;
    }
    if (cfg_.checkpoint_every > 0 && step_ % cfg_.checkpoint_every == 0 && step_ < cfg_.steps) save_checkpoint();
    if (setup_.on_step) setup_.on_step(step_);
  }
  if (cfg_.log_every > 0) log_interval();  // the partial interval
  // With several ranks the decision must be the one they agreed on (the
  // validation below is a collective).
  const bool metrics_lost = setup_.comm ? metrics_stop : rep && rep->failure_errno() != 0;
  if (!r.interrupted && !metrics_lost && valid_ && cfg_.valid_every > 0 && last_valid_step != step_)
    log_validation(validate());
  if (!setup_.checkpoint_path.empty()) {
    if (last_checkpoint_step_ != step_) save_checkpoint();
    r.checkpoint_written = rank() == 0;
  }
  progress(true);
  if (rep) {
    rep->finish();
    rep->metric({{"type", r.interrupted ? "interrupted" : "end"},
                 {"step", step_},
                 {"signal", r.signal},
                 {"nonfinite_skipped", skipped_},
                 {"tokens", tokens_seen_},
                 {"elapsed_s", now_seconds() - wall0}});
  }
  r.step = step_;
  r.nonfinite_skipped = skipped_;
  if (rep && rep->failure_errno() != 0) {  // also when only the last lines failed
    r.metrics_errno = rep->failure_errno();
    r.metrics_error = rep->failure();
  }
  return r;
}

}  // namespace mds::train
