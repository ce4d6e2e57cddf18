// DPM-Solver++(2M) [Lu et al. 2022, "DPM-Solver++", Alg. 2; upstream
// dpm_solver_pytorch multistep_dpm_solver_second_update, solver_type
// 'dpmsolver'] over the discrete schedule seen in continuous time
// (SamplingSchedule::log_alpha). With D the data prediction (x0_hat, source
// re-imposed) and h = lambda_t - lambda_s:
//   first order:  y_t = (sigma_t / sigma_s) y_s - alpha_t (e^{-h} - 1) D_s
//   second order: r = h_prev / h, D1 = (D_s - D_prev) / r,
//                 y_t = (sigma_t / sigma_s) y_s - alpha_t (e^{-h} - 1) D_s
//                       - 0.5 alpha_t (e^{-h} - 1) D1
// The first step is first order (no history); with lower_order_final and
// fewer than 10 steps the last one is too. The final model evaluation is
// skipped: the state at t = 1/T is decoded directly.
#include "sample/solvers.h"

#include <cmath>

namespace mds {

std::vector<double> DpmSolverPP::time_grid(int T, int N) {
  std::vector<double> t(static_cast<size_t>(N) + 1);
  const double t_end = 1.0 / T;
  for (int k = 0; k <= N; ++k) t[static_cast<size_t>(k)] = 1.0 + (t_end - 1.0) * k / N;
  t[static_cast<size_t>(N)] = t_end;  // exact end point
  return t;
}

void DpmSolverPP::run(Trajectory& traj) const {
  const SamplingSchedule& sched = traj.schedule();
  const int N = s_.steps;
  const std::vector<double> ts = time_grid(sched.steps(), N);
  const size_t d = static_cast<size_t>(traj.dim());
  const std::vector<float>& o = traj.offset();
  std::vector<float>& x = traj.x();
  // Schedule index the network is evaluated at for time t.
  auto index_of = [&](double t) { return s_.dpm_v2_time ? t * sched.steps() : sched.index_of_time(t); };

  std::vector<float> D_s, D_prev;
  traj.predict(index_of(ts[0]), s_.rounding == 1, D_s);
  double h_prev = 0;
  for (int k = 1; k <= N; ++k) {
    const double s = ts[static_cast<size_t>(k) - 1], t = ts[static_cast<size_t>(k)];
    const double h = sched.lambda(t) - sched.lambda(s);
    const double ratio = sched.sigma(t) / sched.sigma(s);
    const double phi = std::expm1(-h);  // e^{-h} - 1
    const double at = sched.alpha(t);
    int order = k == 1 ? 1 : 2;
    if (s_.lower_order_final && N < 10) order = std::min(order, N + 1 - k);
    const double r = order == 2 ? h_prev / h : 1.0;
    for (size_t slot : traj.generated()) {
      float* xs = &x[slot * d];
      const float* Ds = &D_s[slot * d];
      for (size_t j = 0; j < d; ++j) {
        const double y = xs[j] - o[j], ds = Ds[j] - o[j];
        double next = ratio * y - at * phi * ds;
        if (order == 2) {
          const double dp = D_prev[slot * d + j] - o[j];
          next -= 0.5 * at * phi * (ds - dp) / r;
        }
        xs[j] = static_cast<float>(o[j] + next);
      }
    }
    traj.reimpose(x);
    h_prev = h;
    if (k < N) {
      D_prev.swap(D_s);
      traj.predict(index_of(t), s_.rounding == 1, D_s);
    }
  }
}

}  // namespace mds
