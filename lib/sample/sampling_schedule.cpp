// The schedule table and DPM-Solver's continuous-time interpolation of it.
#include "sample/sampling_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mds {

SamplingSchedule SamplingSchedule::from_alpha_bar(std::vector<double> alpha_bar, std::string name) {
  if (alpha_bar.size() < 2) throw_usage("noise schedule '{}': expected at least 2 steps, got {}", name, alpha_bar.size());
  for (size_t i = 0; i < alpha_bar.size(); ++i) {
    const double a = alpha_bar[i];
    if (!(a > 0.0 && a < 1.0) || (i > 0 && !(a < alpha_bar[i - 1])))
      throw_usage("noise schedule '{}': abar[{}] = {} is not in (0, 1) and strictly decreasing", name, i, a);
  }
  SamplingSchedule s;
  s.alpha_bar_ = std::move(alpha_bar);
  s.log_alpha_.resize(s.alpha_bar_.size());
  for (size_t i = 0; i < s.alpha_bar_.size(); ++i) s.log_alpha_[i] = 0.5 * std::log(s.alpha_bar_[i]);
  s.name_ = std::move(name);
  return s;
}

double SamplingSchedule::beta(int i) const {
  const double prev = i == 0 ? 1.0 : alpha_bar(i - 1);
  return 1.0 - alpha_bar(i) / prev;
}

double SamplingSchedule::log_alpha(double t) const {
  // Knot k sits at t_k = (k+1)/T; find the segment [k, k+1] holding t.
  const int T = steps();
  const double u = t * T - 1.0;  // fractional knot coordinate
  int k = static_cast<int>(std::floor(u));
  k = std::clamp(k, 0, T - 2);
  const double w = u - k;
  return log_alpha_[static_cast<size_t>(k)] + w * (log_alpha_[static_cast<size_t>(k) + 1] - log_alpha_[static_cast<size_t>(k)]);
}

double SamplingSchedule::alpha(double t) const { return std::exp(log_alpha(t)); }

double SamplingSchedule::sigma(double t) const {
  // 1 - alpha^2 via expm1 keeps precision near t -> 0 where alpha -> 1.
  return std::sqrt(-std::expm1(2.0 * log_alpha(t)));
}

double SamplingSchedule::lambda(double t) const {
  const double la = log_alpha(t);
  return la - 0.5 * std::log(-std::expm1(2.0 * la));
}

double SamplingSchedule::alpha_bar_at(double index) const {
  return std::exp(2.0 * log_alpha((index + 1.0) / steps()));
}

}  // namespace mds
