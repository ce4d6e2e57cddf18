// The three samplers behind make_solver (solver.h), one file each:
// solver_ddpm.cpp, solver_ddim.cpp, solver_dpmpp.cpp (docs/sampling.md), and
// the step loop that DDPM and DDIM share.
#pragma once

#include <functional>
#include <vector>

#include "sample/solver.h"

namespace mds {

// A solver that runs with its resolved settings.
class SettingsSolver : public Solver {
 public:
  explicit SettingsSolver(const SolverSettings& s) : s_(s) {}

 protected:
  SolverSettings s_;
};

// Ancestral DDPM sampling with step skipping, rounding and DiffuSeq-v2's
// absorbing swaps (docs/sampling.md "ddpm").
class DdpmSolver : public SettingsSolver {
 public:
  using SettingsSolver::SettingsSolver;
  void run(Trajectory& traj) const override;
};

// Deterministic DDIM (eta = 0) over evenly spaced steps with the abar of the
// next visited index (docs/sampling.md "ddim").
class DdimSolver : public SettingsSolver {
 public:
  using SettingsSolver::SettingsSolver;
  void run(Trajectory& traj) const override;
};

// DPM-Solver++(2M), time-uniform, data prediction, as DiffuSeq-v2's fast
// sampler (docs/sampling.md "dpm++").
class DpmSolverPP : public SettingsSolver {
 public:
  using SettingsSolver::SettingsSolver;
  void run(Trajectory& traj) const override;
  // The N + 1 continuous times visited: linspace(1, 1/T, N + 1).
  static std::vector<double> time_grid(int T, int N);
};

// One step of a respaced sampler: k counts the visited schedule indices
// tau_{S-1} > ... > tau_0 down from S-1 to 0; ab = abar[tau_k], ab_prev = abar
// of the next visited index (1 after the last); x0 = the prediction at tau_k.
struct SpacedStep {
  int k = 0;
  double ab = 0, ab_prev = 0;
  const std::vector<float>& x0;
};

// The step loop of DDPM and DDIM over spaced_indices(T, s.steps): predicts
// x0 at each visited index (rounded when s.rounding == 1), lets `step` move
// traj.x() to the next state, and re-imposes the source.
void run_spaced_steps(Trajectory& traj, const SolverSettings& s, const std::function<void(const SpacedStep&)>& step);

}  // namespace mds
