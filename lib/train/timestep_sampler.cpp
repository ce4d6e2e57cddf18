// Uniform and loss-aware timestep samplers (see timestep_sampler.h).
#include "train/timestep_sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mds::train {

TimestepSampler::TimestepSampler(TimestepSampling kind, int num_timesteps, int history, double uniform_mix)
    : kind_(kind), T_(num_timesteps), H_(history), uniform_mix_(uniform_mix) {
  if (T_ < 1) throw_usage("timestep sampler: the number of diffusion steps must be >= 1, found {}", T_);
  if (H_ < 1) throw_usage("timestep sampler: the loss history must be >= 1, found {}", H_);
  if (kind_ == TimestepSampling::loss_aware) {
    history_.assign(static_cast<size_t>(T_) * H_, 0.0);
    counts_.assign(T_, 0);
  }
}

bool TimestepSampler::warmed_up() const {
  if (kind_ != TimestepSampling::loss_aware) return false;
  return std::all_of(counts_.begin(), counts_.end(), [&](int64_t c) { return c >= H_; });
}

std::vector<double> TimestepSampler::probabilities() const {
  std::vector<double> p(T_, 1.0 / T_);
  if (!warmed_up()) return p;
  double sum = 0;
  for (int t = 0; t < T_; ++t) {
    double sq = 0;
    for (int k = 0; k < H_; ++k) sq += history_[static_cast<size_t>(t) * H_ + k] * history_[static_cast<size_t>(t) * H_ + k];
    p[t] = std::sqrt(sq / H_);
    sum += p[t];
  }
  if (!(sum > 0) || !std::isfinite(sum)) return std::vector<double>(T_, 1.0 / T_);
  for (double& x : p) x = x / sum * (1.0 - uniform_mix_) + uniform_mix_ / T_;
  return p;
}

void TimestepSampler::sample(Rng& rng, int n, std::vector<int32_t>& timesteps, std::vector<double>& weights) const {
  timesteps.resize(n);
  weights.resize(n);
  if (!warmed_up()) {
    for (int i = 0; i < n; ++i) {
      timesteps[i] = static_cast<int32_t>(rng.below(T_));
      weights[i] = 1.0;  // 1/(T · 1/T)
    }
    return;
  }
  const std::vector<double> p = probabilities();
  std::vector<double> cdf(T_);
  double acc = 0;
  for (int t = 0; t < T_; ++t) cdf[t] = acc += p[t];
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform() * acc;
    int t = static_cast<int>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    t = std::min(t, T_ - 1);
    timesteps[i] = t;
    weights[i] = 1.0 / (T_ * p[t]);
  }
}

void TimestepSampler::update(const std::vector<int32_t>& timesteps, const std::vector<double>& losses) {
  if (kind_ != TimestepSampling::loss_aware) return;
  const size_t n = std::min(timesteps.size(), losses.size());
  for (size_t i = 0; i < n; ++i) {
    const int t = timesteps[i];
    if (t < 0 || t >= T_ || !std::isfinite(losses[i])) continue;
    history_[static_cast<size_t>(t) * H_ + counts_[t] % H_] = losses[i];
    ++counts_[t];
  }
}

void TimestepSampler::save_state(Container& out, const std::string& prefix, nlohmann::json& meta) const {
  meta = {{"kind", timestep_sampling_name(kind_)}, {"num_timesteps", T_}, {"history", H_},
          {"uniform_mix", uniform_mix_}};
  if (kind_ != TimestepSampling::loss_aware) return;
  out.add(Section::from(prefix + "history", history_, {T_, H_}));
  out.add(Section::from(prefix + "counts", counts_, {T_}));
}

void TimestepSampler::load_state(const Container& in, const std::string& prefix, const nlohmann::json& meta) {
  const std::string src = in.source.empty() ? "checkpoint" : in.source;
  auto get_int = [&](const char* key) -> int64_t {
    if (!meta.is_object() || !meta.contains(key) || !meta[key].is_number_integer())
      throw_bad_input("{}: sampler state lacks integer \"{}\"", src, key);
    return meta[key].get<int64_t>();
  };
  const std::string kind = meta.value("kind", std::string());
  if (kind != timestep_sampling_name(kind_))
    throw_usage("{}: the checkpoint's timestep sampler is \"{}\" but the run uses \"{}\"; resume with "
                "--set train.timestep_sampler={}",
                src, kind, timestep_sampling_name(kind_), kind);
  if (get_int("num_timesteps") != T_)
    throw_bad_input("{}: sampler state is for {} diffusion steps, the model has {}", src, get_int("num_timesteps"), T_);
  if (kind_ != TimestepSampling::loss_aware) return;
  if (get_int("history") != H_)
    throw_usage("{}: the checkpoint's loss_aware_history is {}, the run's is {}", src, get_int("history"), H_);
  std::vector<double> h = in.section(prefix + "history").to_vector<double>();
  std::vector<int64_t> c = in.section(prefix + "counts").to_vector<int64_t>();
  if (h.size() != history_.size() || c.size() != counts_.size())
    throw_bad_input("{}: section {}history/counts has {}/{} values, expected {}/{}", src, prefix, h.size(), c.size(),
                    history_.size(), counts_.size());
  history_ = std::move(h);
  counts_ = std::move(c);
}

}  // namespace mds::train
