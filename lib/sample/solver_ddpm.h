// Ancestral DDPM sampling with step skipping, rounding and DiffuSeq-v2's
// absorbing swaps (algorithm.md §5, docs/sampling.md "ddpm").
#pragma once

#include "sample/solver.h"

namespace mds {

class DdpmSolver : public Solver {
 public:
  explicit DdpmSolver(const SolverSettings& s) : s_(s) {}
  void run(Trajectory& traj) const override;

 private:
  SolverSettings s_;
};

}  // namespace mds
