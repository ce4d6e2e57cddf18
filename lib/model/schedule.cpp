// Noise schedule tables and the sinusoidal time embedding.
#include "model/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mds {

NoiseSchedule NoiseSchedule::sqrt_schedule(int steps, bool rescale_timesteps) {
  if (steps < 2) throw_usage("noise schedule: steps must be >= 2, got {}", steps);
  NoiseSchedule s;
  s.rescale_ = rescale_timesteps;
  auto abar = [](double x) { return 1.0 - std::sqrt(x + 1e-4); };
  s.betas_.resize(steps);
  s.alpha_bars_.resize(steps);
  double prod = 1.0;
  for (int i = 0; i < steps; ++i) {
    s.betas_[i] = std::min(1.0 - abar(double(i + 1) / steps) / abar(double(i) / steps), 0.999);
    prod *= 1.0 - s.betas_[i];
    s.alpha_bars_[i] = prod;
  }
  return s;
}

NoiseSchedule NoiseSchedule::make(const std::string& name, int steps, bool rescale_timesteps) {
  if (name == "sqrt") return sqrt_schedule(steps, rescale_timesteps);
  throw_usage("noise schedule: unknown schedule '{}' (valid: sqrt)", name);
}

double NoiseSchedule::sqrt_alpha_bar(int t) const { return std::sqrt(alpha_bar(t)); }
double NoiseSchedule::sqrt_one_minus_alpha_bar(int t) const { return std::sqrt(1.0 - alpha_bar(t)); }

double NoiseSchedule::posterior_coef_x0(int t) const {
  return beta(t) * std::sqrt(alpha_bar_prev(t)) / (1.0 - alpha_bar(t));
}
double NoiseSchedule::posterior_coef_xt(int t) const {
  return (1.0 - alpha_bar_prev(t)) * std::sqrt(1.0 - beta(t)) / (1.0 - alpha_bar(t));
}
double NoiseSchedule::posterior_variance(int t) const {
  return beta(t) * (1.0 - alpha_bar_prev(t)) / (1.0 - alpha_bar(t));
}

void timestep_embedding(double t, int dim, double* out) {
  const int half = dim / 2;
  for (int k = 0; k < half; ++k) {
    const double f = std::exp(-std::log(10000.0) * k / half);
    out[k] = std::cos(t * f);
    out[half + k] = std::sin(t * f);
  }
}

}  // namespace mds
