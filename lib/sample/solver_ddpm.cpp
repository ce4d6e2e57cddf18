// DDPM over a respaced schedule. For visited indices tau_0 < ... < tau_{S-1}
// the respaced process has abar_k = abar[tau_k], beta'_k = 1 - abar_k /
// abar_{k-1} (abar_{-1} = 1), and each step samples the Gaussian posterior
// q(y_{k-1} | y_k, y0 = x0_hat) [Ho et al. 2020 eq. 7; DS-main p_sample]:
//   mean = sqrt(abar_{k-1}) beta'_k / (1 - abar_k) * y0
//        + sqrt(1 - beta'_k) (1 - abar_{k-1}) / (1 - abar_k) * y_k
// with the "fixed large" variance beta'_k and no noise on the last step.
// Then, as DiffuSeq-v2's p_sample, each target slot is replaced by m with
// probability gamma * sqrt(beta'_k) (not on the last step). With S = T this is
// exactly DiffuSeq(-v2)'s 2000-step sampler.
#include "sample/solvers.h"

#include <cmath>

namespace mds {

void DdpmSolver::run(Trajectory& traj) const {
  const size_t d = static_cast<size_t>(traj.dim());
  const std::vector<float>& o = traj.offset();
  const std::vector<float>& m = traj.absorbing();
  const auto& gen = traj.generated();
  std::vector<float>& x = traj.x();
  run_spaced_steps(traj, s_, [&](const SpacedStep& st) {
    const int k = st.k;
    const double ab = st.ab, ab_prev = st.ab_prev;
    const double beta = 1.0 - ab / ab_prev;
    const double c1 = std::sqrt(ab_prev) * beta / (1.0 - ab);
    const double c2 = std::sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab);
    const double sd = k > 0 ? std::sqrt(beta) : 0.0;
    const double swap_p = k > 0 ? s_.absorb_rate * sd : 0.0;
    for (int r = 0; r < traj.rows(); ++r) {
      ExampleRng& g = traj.rng(r);
      for (size_t i = traj.gen_begin(r); i < traj.gen_begin(r + 1); ++i) {
        float* xs = &x[gen[i] * d];
        const float* x0s = &st.x0[gen[i] * d];
        for (size_t j = 0; j < d; ++j) {
          const double y = xs[j] - o[j], y0 = x0s[j] - o[j];
          double next = c1 * y0 + c2 * y;
          if (k > 0) next += sd * g.normal();
          xs[j] = static_cast<float>(o[j] + next);
        }
        // DiffuSeq-v2 absorbing swap: one Bernoulli per slot, shared across d.
        if (swap_p > 0 && g.uniform() < swap_p)
          for (size_t j = 0; j < d; ++j) xs[j] = m[j];
      }
    }
  });
}

}  // namespace mds
