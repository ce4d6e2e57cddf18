// The diffusion noise schedule (DiffuSeq's "sqrt" schedule, docs/model.md)
// and the quantities samplers need: abar_t, betas, posterior coefficients and
// the time value the network sees.
#pragma once

#include <string>
#include <vector>

namespace mds {

class NoiseSchedule {
 public:
  // abar(s) = 1 - sqrt(s + 1e-4), beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999),
  // abar_i = prod_{j<=i} (1 - beta_j)  [DiffuSeq get_named_beta_schedule('sqrt')].
  static NoiseSchedule sqrt_schedule(int steps, bool rescale_timesteps = true);
  static NoiseSchedule make(const std::string& name, int steps, bool rescale_timesteps = true);

  int steps() const { return static_cast<int>(betas_.size()); }
  double beta(int t) const { return betas_.at(t); }
  double alpha_bar(int t) const { return alpha_bars_.at(t); }
  // abar_{t-1}, with abar_{-1} = 1.
  double alpha_bar_prev(int t) const { return t == 0 ? 1.0 : alpha_bars_.at(t - 1); }
  double sqrt_alpha_bar(int t) const;
  double sqrt_one_minus_alpha_bar(int t) const;
  // Posterior q(x_{t-1} | x_t, x0) = N(c0 x0 + ct x_t, var) (DDPM eq. 7).
  double posterior_coef_x0(int t) const;
  double posterior_coef_xt(int t) const;
  double posterior_variance(int t) const;
  // The time value fed to the network: t * 1000 / T when rescaled, else t.
  double model_time(double t) const { return rescale_ ? t * 1000.0 / steps() : t; }
  bool rescaled() const { return rescale_; }
  const std::vector<double>& alpha_bars() const { return alpha_bars_; }
  const std::vector<double>& betas() const { return betas_; }

 private:
  std::vector<double> betas_, alpha_bars_;
  bool rescale_ = true;
};

// Sinusoidal embedding of one (already rescaled) time value, DiffuSeq layout:
// [cos(t f_0..f_{h-1}), sin(t f_0..f_{h-1})], f_k = 10000^(-k/h), h = dim/2.
void timestep_embedding(double t, int dim, double* out);

}  // namespace mds
