// Solver names, defaults, validation and the factory.
#include "sample/solver.h"

#include <cmath>

#include "core/error.h"
#include "sample/sample_config.h"
#include "sample/solvers.h"

namespace mds {

const char* solver_name(SolverKind k) {
  switch (k) {
    case SolverKind::ddpm: return "ddpm";
    case SolverKind::ddim: return "ddim";
    case SolverKind::dpmpp: return "dpm++";
  }
  return "?";
}

SolverKind parse_solver(const std::string& name) {
  if (name == "ddpm") return SolverKind::ddpm;
  if (name == "ddim") return SolverKind::ddim;
  if (name == "dpm++" || name == "dpmpp") return SolverKind::dpmpp;
  throw_usage("unknown solver '{}': expected one of ddpm, ddim, dpm++", name);
}

SolverSettings resolve_solver_settings(SolverSettings s, const DenoiserInfo& info, const SamplingSchedule& schedule) {
  SamplerOptions unresolved;  // the ranges and per-solver checks are the schema's (sample_config.h)
  unresolved.solver = s;
  validate(unresolved);
  const int T = schedule.steps();
  if (s.steps == 0) s.steps = s.kind == SolverKind::ddpm ? T : s.kind == SolverKind::ddim ? 200 : 10;
  if (s.steps < 1 || s.steps > T)
    throw_usage("--steps {} is out of range: expected 1..{} (the model's diffusion steps)", s.steps, T);
  if (s.rounding < 0) s.rounding = s.kind == SolverKind::dpmpp ? 0 : 1;
  if (s.absorb_rate < 0) s.absorb_rate = s.kind == SolverKind::ddpm ? info.absorb_rate : 0.0;
  return s;
}

nlohmann::json solver_settings_to_json(const SolverSettings& s) {
  nlohmann::json j;
  j["solver"] = solver_name(s.kind);
  j["steps"] = s.steps;
  j["rounding"] = s.rounding == 1;
  j["absorb_rate"] = s.absorb_rate;
  j["init"] = s.trajectory.init == InitNoise::absorbing ? "m" : "zero";
  j["frame"] = s.trajectory.centered ? "centered" : "raw";
  if (s.kind == SolverKind::dpmpp) {
    j["order"] = 2;
    j["method"] = "multistep";
    j["skip_type"] = "time_uniform";
    j["time_input"] = s.dpm_v2_time ? "v2 (t*1000)" : "upstream ((t-1/T)*1000)";
    j["lower_order_final"] = s.lower_order_final;
  } else {
    j["timestep_spacing"] = "even, both ends";
  }
  return j;
}

std::vector<int> spaced_indices(int T, int S) {
  if (S < 1 || S > T) throw_usage("--steps {} is out of range: expected 1..{}", S, T);
  if (S == 1) return {T - 1};
  std::vector<int> out(static_cast<size_t>(S));
  for (int k = 0; k < S; ++k)
    out[static_cast<size_t>(k)] = static_cast<int>(std::lround(static_cast<double>(k) * (T - 1) / (S - 1)));
  return out;
}

void run_spaced_steps(Trajectory& traj, const SolverSettings& s, const std::function<void(const SpacedStep&)>& step) {
  const SamplingSchedule& sched = traj.schedule();
  const std::vector<int> tau = spaced_indices(sched.steps(), s.steps);
  std::vector<float> x0;
  for (int k = static_cast<int>(tau.size()) - 1; k >= 0; --k) {
    traj.predict(tau[static_cast<size_t>(k)], s.rounding == 1, x0);
    const double ab = sched.alpha_bar(tau[static_cast<size_t>(k)]);
    const double ab_prev = k > 0 ? sched.alpha_bar(tau[static_cast<size_t>(k) - 1]) : 1.0;
    step(SpacedStep{k, ab, ab_prev, x0});
    traj.reimpose(traj.x());
  }
}

std::unique_ptr<Solver> make_solver(const SolverSettings& s) {
  switch (s.kind) {
    case SolverKind::ddpm: return std::make_unique<DdpmSolver>(s);
    case SolverKind::ddim: return std::make_unique<DdimSolver>(s);
    case SolverKind::dpmpp: return std::make_unique<DpmSolverPP>(s);
  }
  throw_usage("unknown solver");
}

}  // namespace mds
