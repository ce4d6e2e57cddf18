// Deterministic DDIM (eta = 0) over evenly spaced steps with the abar of the
// next visited index (algorithm.md §5, docs/sampling.md "ddim").
#pragma once

#include "sample/solver.h"

namespace mds {

class DdimSolver : public Solver {
 public:
  explicit DdimSolver(const SolverSettings& s) : s_(s) {}
  void run(Trajectory& traj) const override;

 private:
  SolverSettings s_;
};

}  // namespace mds
