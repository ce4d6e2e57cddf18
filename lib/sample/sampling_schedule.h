// The diffusion schedule as the samplers see it: the model's table of abar_i,
// i = 0..T-1, plus the continuous-time view DPM-Solver uses (log alpha
// interpolated linearly in t over the grid t_i = (i+1)/T, docs/sampling.md, "Solvers").
// Built from the table of the model's own schedule (lib/model/schedule.h), so
// samplers follow whatever schedule a checkpoint was trained with.
#pragma once

#include <string>
#include <vector>

namespace mds {

class SamplingSchedule {
 public:
  // From the model's abar table (strictly decreasing, in (0, 1)).
  static SamplingSchedule from_alpha_bar(std::vector<double> alpha_bar, std::string name);

  int steps() const { return static_cast<int>(alpha_bar_.size()); }  // T
  const std::string& name() const { return name_; }
  // abar at integer index i in [0, T-1].
  double alpha_bar(int i) const { return alpha_bar_.at(static_cast<size_t>(i)); }
  const std::vector<double>& alpha_bar_table() const { return alpha_bar_; }
  // beta_i = 1 - abar_i / abar_{i-1} (abar_{-1} = 1), as the table implies.
  double beta(int i) const;

  // Continuous time t in [1/T, 1] (DPM-Solver's discrete SamplingScheduleVP):
  // log alpha_t = piecewise-linear interpolation of 0.5 log abar_i over the
  // knots t_i = (i+1)/T. Outside the knots the end segments are extended.
  double log_alpha(double t) const;
  double alpha(double t) const;   // sqrt(abar) at t
  double sigma(double t) const;   // sqrt(1 - alpha^2)
  double lambda(double t) const;  // log(alpha / sigma), the half log-SNR
  // Schedule index (possibly fractional) the network is evaluated at for
  // continuous t: i = t*T - 1, so the knot t_i maps back to i exactly
  // (upstream DPM-Solver's discrete model input time (t - 1/N) * 1000, in
  // DiffuSeq's units where index i enters the network as i * 1000 / T).
  double index_of_time(double t) const { return t * steps() - 1.0; }
  // abar at a fractional index, consistent with the interpolation above.
  double alpha_bar_at(double index) const;

 private:
  std::vector<double> alpha_bar_;
  std::vector<double> log_alpha_;  // 0.5 * log(abar_i)
  std::string name_;
};

}  // namespace mds
