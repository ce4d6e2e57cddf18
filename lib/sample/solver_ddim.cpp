// DDIM, eta = 0 [Song, Meng & Ermon 2021, eq. 12]: with y0 = x0_hat,
//   eps = (y_k - sqrt(abar_k) y0) / sqrt(1 - abar_k)
//   y_{k-1} = sqrt(abar_{k-1}) y0 + sqrt(1 - abar_{k-1}) eps
// where abar_{k-1} is abar of the NEXT VISITED index (DiffuSeq's code uses
// abar_{t-1} whatever the stride, a bug: docs/sampling.md, "ddim") and 1 after the last
// visited index, so the final state is x0_hat itself.
#include "sample/solvers.h"

#include <cmath>

namespace mds {

void DdimSolver::run(Trajectory& traj) const {
  const size_t d = static_cast<size_t>(traj.dim());
  const std::vector<float>& o = traj.offset();
  std::vector<float>& x = traj.x();
  run_spaced_steps(traj, s_, [&](const SpacedStep& st) {
    const double sa = std::sqrt(st.ab), s1a = std::sqrt(1.0 - st.ab);
    const double sa_prev = std::sqrt(st.ab_prev), s1a_prev = std::sqrt(1.0 - st.ab_prev);
    for (size_t slot : traj.generated()) {
      float* xs = &x[slot * d];
      const float* x0s = &st.x0[slot * d];
      for (size_t j = 0; j < d; ++j) {
        const double y = xs[j] - o[j], y0 = x0s[j] - o[j];
        const double eps = (y - sa * y0) / s1a;
        xs[j] = static_cast<float>(o[j] + sa_prev * y0 + s1a_prev * eps);
      }
    }
  });
}

}  // namespace mds
