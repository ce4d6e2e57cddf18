// Solver settings and the interface the three samplers implement
// (docs/sampling.md documents every choice and its source).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sample/sampling_schedule.h"
#include "sample/trajectory.h"

namespace mds {

enum class SolverKind { ddpm, ddim, dpmpp };

const char* solver_name(SolverKind k);
// Parses "ddpm", "ddim", "dpm++" (also "dpmpp"); usage error otherwise.
SolverKind parse_solver(const std::string& name);

struct SolverSettings {
  SolverKind kind = SolverKind::dpmpp;
  int steps = 0;             // model evaluations; 0 = the solver's default (ddpm T, ddim 200, dpm++ 10)
  int rounding = -1;         // round x0 to the nearest embedding each step: 1/0; -1 = default (ddpm, ddim on; dpm++ off)
  double absorb_rate = -1;   // ddpm absorbing swaps gamma; -1 = the model's gamma; 0 = off
  TrajectoryOptions trajectory;
  bool dpm_v2_time = false;  // dpm++: network time t*1000 (DiffuSeq-v2's edit) instead of (t - 1/T)*1000
  bool lower_order_final = true;  // dpm++: first order on the last step when steps < 10 (upstream default)
};

// Fills the defaults from the model and checks the ranges (usage errors).
SolverSettings resolve_solver_settings(SolverSettings s, const DenoiserInfo& info, const SamplingSchedule& schedule);
// Every setting, for the sampler's metadata.
nlohmann::json solver_settings_to_json(const SolverSettings& s);

// DiffuSeq step skipping: S schedule indices evenly spaced over [0, T-1],
// both ends included, ascending (S = 1 gives {T-1}). The "respacing" of
// improved-diffusion's space_timesteps, with rounding half away from zero.
std::vector<int> spaced_indices(int T, int S);

class Solver {
 public:
  virtual ~Solver() = default;
  // Denoises the trajectory from the prior to its final state in place.
  virtual void run(Trajectory& traj) const = 0;
};

std::unique_ptr<Solver> make_solver(const SolverSettings& resolved);

}  // namespace mds
