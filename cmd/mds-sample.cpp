// mds-sample: generate targets for JSONL sources with a trained checkpoint,
// streaming. Thin main: flags here, the work in lib/sample (sample_tool.h).
// See man/mds-sample.1 and docs/sampling.md.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "metrics/mbr.h"
#include "sample/checkpoint_loader.h"
#include "sample/sample_tool.h"

int main(int argc, char** argv) {
  CLI::App app{"Generate targets for JSONL sources ({\"src\": ...}) with a trained mds checkpoint, streaming.\n"
               "Writes each record with \"hyp\" added, in input order. See mds-sample(1) and docs/sampling.md.",
               "mds-sample"};
  mds::cli::add_version_flag(app, "mds-sample");
  mds::SampleToolOptions o;
  o.model.threads = 0;  // all cores unless --threads says otherwise
  std::string solver = "dpm++", rounding = "auto", init = "m", frame = "centered", dpm_time = "upstream";
  bool v2 = false;
  app.add_option("inputs", o.inputs, "JSONL files (- or none = standard input; zstd is detected)");
  app.add_option("-m,--model", o.model.path, "the .mds checkpoint written by mds-train")->required();
  mds::cli::add_output_option(&app, o.output, "output JSONL file (default standard output)");
  app.add_option("--solver", solver, "ddpm, ddim or dpm++")->check(CLI::IsMember({"ddpm", "ddim", "dpm++", "dpmpp"}))
      ->capture_default_str();
  app.add_option("--steps", o.sampler.solver.steps, "model evaluations (0 = the solver's default: ddpm 2000, ddim 200, dpm++ 10)")
      ->transform(mds::cli::integer_at_least<int>(0))
      ->capture_default_str();
  app.add_option("--mbr", o.sampler.candidates, "candidates per source, MBR-selected by sentence BLEU")
      ->transform(mds::cli::integer_at_least<int>(1))
      ->capture_default_str();
  app.add_flag("--keep-candidates", o.keep_candidates, "also write every candidate as \"candidates\"");
  app.add_option("--batch-size", o.sampler.batch_size, "sequences denoised together (results do not depend on it)")
      ->transform(mds::cli::integer_at_least<int>(1))
      ->capture_default_str();
  app.add_option("--sort-window", o.sort_window, "batches read and run longest source first (output order kept)")
      ->transform(mds::cli::integer_at_least<int>(1))
      ->capture_default_str();
  app.add_option("--idle-flush", o.idle_flush_ms,
                 "milliseconds of idle input after which records waiting for a full batch are run (0 = off)")
      ->transform(mds::cli::integer_at_least<int>(0))
      ->capture_default_str();
  app.add_option("--seed", o.sampler.seed, "run seed (each sequence's noise: seed, record index, candidate)")
      ->transform(mds::cli::integer_at_least<uint64_t>(0))
      ->capture_default_str();
  app.add_option("--max-trg-len", o.sampler.max_trg_len, "target slots to generate (0 = the model's)")
      ->transform(mds::cli::integer_at_least<int>(0))
      ->capture_default_str();
  mds::cli::add_threads_option(&app, o.model.threads);
  mds::cli::add_device_option(&app, o.model.device);
  app.add_flag("--skip-bad", o.skip_bad, "skip and count malformed records instead of failing");
  app.add_option("--meta", o.meta_path, "write the sampler configuration (and final statistics) as JSON to this file");
  app.add_option("--rounding", rounding, "round x0 to the nearest embedding each step: on, off, auto (ddpm/ddim on)")
      ->check(CLI::IsMember({"on", "off", "auto"}))->capture_default_str();
  app.add_option("--absorb-rate", o.sampler.solver.absorb_rate, "ddpm absorbing swap factor gamma, 0 to 1 (default: the model's)")
      ->check(mds::cli::number_in_range(0, 1));
  auto* init_opt = app.add_option("--init", init, "initial target noise: m (m + N(0,I)) or zero (N(0,I))")
                       ->check(CLI::IsMember({"m", "zero"}))->capture_default_str();
  auto* frame_opt = app.add_option("--frame", frame, "solver frame: centered (x - m) or raw (x)")
                        ->check(CLI::IsMember({"centered", "raw"}))->capture_default_str();
  auto* time_opt = app.add_option("--dpm-time", dpm_time, "dpm++ network time: upstream ((t-1/T)*1000) or v2 (t*1000)")
                       ->check(CLI::IsMember({"upstream", "v2"}))->capture_default_str();
  app.add_flag("--diffuseq-v2", v2, "reproduce DiffuSeq-v2's code (frame raw; dpm++: init zero, dpm-time v2)");
  mds::cli::add_progress_flag(&app, o.progress);
  app.add_flag("-q,--quiet", o.quiet, "nothing on standard error but errors");

  return mds::cli::run(app, argc, argv, [&] {
    auto& s = o.sampler.solver;
    s.kind = mds::parse_solver(solver);
    s.rounding = rounding == "auto" ? -1 : rounding == "on" ? 1 : 0;
    if (v2) {  // DiffuSeq-v2's choices, unless a flag says otherwise
      if (!frame_opt->count()) frame = "raw";
      if (s.kind == mds::SolverKind::dpmpp) {
        if (!init_opt->count()) init = "zero";
        if (!time_opt->count()) dpm_time = "v2";
      }
    }
    s.trajectory.init = init == "m" ? mds::InitNoise::absorbing : mds::InitNoise::zero;
    s.trajectory.centered = frame == "centered";
    s.dpm_v2_time = dpm_time == "v2";
    if (s.dpm_v2_time && s.kind != mds::SolverKind::dpmpp) mds::throw_usage("--dpm-time applies to the dpm++ solver only");
    o.progress = mds::cli::show_progress(o.progress, o.quiet);
    o.command.assign(argv, argv + argc);
    return mds::run_sample_tool(o, mds::load_sampling_model, mds::select_mbr, stderr);
  });
}
