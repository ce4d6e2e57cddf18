// DPM-Solver++(2M), time-uniform, data prediction, as DiffuSeq-v2's fast
// sampler (algorithm.md §5, docs/sampling.md "dpm++").
#pragma once

#include "sample/solver.h"

namespace mds {

class DpmSolverPP : public Solver {
 public:
  explicit DpmSolverPP(const SolverSettings& s) : s_(s) {}
  void run(Trajectory& traj) const override;
  // The N + 1 continuous times visited: linspace(1, 1/T, N + 1).
  static std::vector<double> time_grid(int T, int N);

 private:
  SolverSettings s_;
};

}  // namespace mds
