// The sampler's settings declared in the config schema: one table per struct
// gives every field's type, range, default and meaning (docs/config.md, "The
// sampler settings", is generated from it; docs/sampling.md explains each
// choice).
#include "sample/sample_config.h"

#include "core/error.h"

namespace mds {

namespace {

using Json = nlohmann::json;

// Any other value shows as itself, which no name matches: validate() refuses it.
std::string rounding_text(const int& r) {
  return r == -1 ? "auto" : r == 1 ? "on" : r == 0 ? "off" : std::to_string(r);
}
std::string init_text(const InitNoise& i) { return i == InitNoise::absorbing ? "m" : "zero"; }
std::string frame_text(const bool& centered) { return centered ? "centered" : "raw"; }
std::string dpm_time_text(const bool& v2) { return v2 ? "v2" : "upstream"; }

// The solver is a choice with an alias ("dpmpp" reads as "dpm++"), which
// choice() cannot express.
FieldInfo solver_info() {
  return {"solver",
          "string (ddpm, ddim, dpm++)",
          Json(solver_name(SamplerOptions{}.solver.kind)),
          "`--solver`: `ddpm` (ancestral, with step skipping and DiffuSeq-v2's absorbing swaps), `ddim` "
          "(deterministic) or `dpm++` (DPM-Solver++(2M), time-uniform); docs/sampling.md, \"Solvers\"",
          "one of \"ddpm|ddim|dpm++|dpmpp\" (dpmpp = dpm++)",
          "",
          ""};
}
void set_solver(SamplerOptions& o, const Json& v, const std::string& where) {
  if (v.is_string())
    for (SolverKind k : {SolverKind::ddpm, SolverKind::ddim, SolverKind::dpmpp})
      if (v.get<std::string>() == solver_name(k) || (k == SolverKind::dpmpp && v.get<std::string>() == "dpmpp")) {
        o.solver.kind = k;
        return;
      }
  schema::bad_value(where, "solver", solver_info().accepts, v);
}

// absorb_rate's default is "the model's γ", stored as -1 and written as null.
FieldInfo absorb_rate_info() {
  return {"absorb_rate",
          "number or null",
          Json(nullptr),
          "`--absorb-rate`, `ddpm` only: the factor γ of the absorbing swaps (each target slot becomes m with "
          "probability γ·√β per step); null = the model's `absorb_rate`, 0 = no swaps",
          "a number in [0, 1]",
          "the model",
          ""};
}
void set_absorb_rate(SamplerOptions& o, const Json& v, const std::string& where) {
  if (v.is_null()) {
    o.solver.absorb_rate = -1;
    return;
  }
  const double x = v.is_number() ? v.get<double>() : -1;
  if (!(v.is_number() && x >= 0 && x <= 1)) schema::bad_value(where, "absorb_rate", absorb_rate_info().accepts, v);
  o.solver.absorb_rate = x;
}
Json get_absorb_rate(const SamplerOptions& o) {
  return o.solver.absorb_rate < 0 ? Json(nullptr) : Json(o.solver.absorb_rate);
}

}  // namespace

const ConfigSchema<SamplerOptions>& sampler_schema() {
  static const ConfigSchema<SamplerOptions> s = [] {
    using O = SamplerOptions;
    ConfigSchema<O> t;
    t.section("Solver")
        .custom(solver_info(), set_solver, [](const O& o) { return Json(solver_name(o.solver.kind)); })
        .integer("steps", [](auto& o) -> auto& { return o.solver.steps; }, 0,
                 "`--steps`: model evaluations; 0 = the solver's default (ddpm: the model's T, every step; ddim: "
                 "200; dpm++: 10); at most the model's diffusion steps",
                 "[DS] every step (ddpm); docs/sampling.md, \"Solvers\"")
        .choice<int>("rounding", [](auto& o) -> auto& { return o.solver.rounding; }, {-1, 1, 0}, rounding_text,
                     "`--rounding`: round every x0 prediction to its nearest word embedding; auto = on for ddpm "
                     "and ddim, off for dpm++",
                     "[DS] clamp_step 0 (ddpm, ddim)")
        .custom(absorb_rate_info(), set_absorb_rate, get_absorb_rate)
        .choice<InitNoise>("init", [](auto& o) -> auto& { return o.solver.trajectory.init; },
                           {InitNoise::absorbing, InitNoise::zero}, init_text,
                           "`--init`: initial target noise: m = m + N(0, I), the training prior; zero = N(0, I), as "
                           "DiffuSeq-v2's DPM-Solver++ script",
                           "[v2] DDPM")
        .choice<bool>("frame", [](auto& o) -> auto& { return o.solver.trajectory.centered; }, {true, false},
                      frame_text,
                      "`--frame`: centered = solver updates act on x − m on target slots (exact for the soft "
                      "absorbing state); raw = on x, as DiffuSeq-v2's code",
                      "")
        .choice<bool>("dpm_time", [](auto& o) -> auto& { return o.solver.dpm_v2_time; }, {false, true},
                      dpm_time_text,
                      "`--dpm-time`, `dpm++` only: the network time at solver time t: upstream = (t − 1/T)·1000, "
                      "the training index at the grid points; v2 = t·1000, DiffuSeq-v2's edit",
                      "upstream DPM-Solver");
    t.section("Candidates and seed")
        .integer("candidates", &O::candidates, 1,
                 "`--mbr`: sequences generated per source; with more than one, the one with the highest summed "
                 "sentence BLEU against the others is kept (MBR)",
                 "")
        .integer("seed", &O::seed, 0,
                 "`--seed`: run seed; each sequence's noise is its own stream keyed by (seed, record index, "
                 "candidate index)",
                 "[DS] seed 101");
    t.section("Lengths and batching")
        .integer("max_trg_len", &O::max_trg_len, 0,
                 "`--max-trg-len`: target slots to generate (N + 1 with the final [SEP]/[PAD]); 0 = the model's "
                 "`max_trg_len`; the packed length must fit the model's positions",
                 "the model")
        .integer("batch_size", &O::batch_size, 1,
                 "`--batch-size`: sequences denoised together (candidates count); results do not depend on it");
    // Checks across fields: settings that apply to one solver only.
    t.check([](const O& o, const std::string& where) {
      if (o.solver.absorb_rate > 0 && o.solver.kind != SolverKind::ddpm)
        schema::bad_value(where, "absorb_rate",
                          fmt::format("0 with solver {} (absorbing swaps are a ddpm setting)", solver_name(o.solver.kind)),
                          Json(o.solver.absorb_rate));
      if (o.solver.dpm_v2_time && o.solver.kind != SolverKind::dpmpp)
        schema::bad_value(where, "dpm_time",
                          fmt::format("\"upstream\" with solver {} (v2 is a dpm++ setting)", solver_name(o.solver.kind)),
                          Json("v2"));
    });
    return t;
  }();
  return s;
}

const ConfigSchema<StreamOptions>& stream_schema() {
  static const ConfigSchema<StreamOptions> s = [] {
    using O = StreamOptions;
    ConfigSchema<O> t;
    t.section("Lengths and batching")
        .integer("sort_window", &O::sort_window, 1,
                 "`--sort-window`: batches read before generating, run longest source first so batches of long "
                 "documents pad little; output order and results are unchanged")
        .integer("idle_flush_ms", &O::idle_flush_ms, 0,
                 "`--idle-flush`: with records waiting for a full batch, an input idle this many milliseconds runs "
                 "them as a partial batch; 0 = only full batches and the end of the input");
    return t;
  }();
  return s;
}


std::vector<FieldInfo> sample_fields() {
  std::vector<FieldInfo> all = sampler_schema().fields();
  for (const FieldInfo& f : stream_schema().fields()) all.push_back(f);
  return all;
}

void validate(const SamplerOptions& o, const std::string& where) { sampler_schema().validate(o, where); }
void validate(const StreamOptions& o, const std::string& where) { stream_schema().validate(o, where); }

}  // namespace mds
