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
#include "sample/sample_config.h"
#include "sample/sample_tool.h"

int main(int argc, char** argv) {
  CLI::App app{"Generate targets for JSONL sources ({\"src\": ...}) with a trained mds checkpoint, streaming.\n"
               "Writes each record with \"hyp\" added, in input order. See mds-sample(1) and docs/sampling.md.",
               "mds-sample"};
  mds::cli::add_version_flag(app, "mds-sample");
  mds::SampleToolOptions o;
  o.model.threads = 0;  // all cores unless --threads says otherwise
  // The sampler's flags are read through its config schema (sample/sample_config.h):
  // their ranges, defaults and messages are the schema's (docs/config.md).
  mds::cli::SchemaFlags<mds::SamplerOptions> sampler(app, mds::sampler_schema(), o.sampler);
  mds::cli::SchemaFlags<mds::StreamOptions> stream(app, mds::stream_schema(), o.stream);
  bool v2 = false;
  app.add_option("inputs", o.inputs, "JSONL files (- or none = standard input; zstd is detected)");
  app.add_option("-m,--model", o.model.path, "the .mds checkpoint written by mds-train")->required();
  mds::cli::add_output_option(&app, o.output, "output JSONL file (default standard output)");
  sampler.add("--solver", "solver", "ddpm, ddim or dpm++");
  sampler.add("--steps", "steps", "model evaluations (0 = the solver's default: ddpm 2000, ddim 200, dpm++ 10)");
  sampler.add("--mbr", "candidates", "candidates per source, MBR-selected by sentence BLEU");
  app.add_flag("--keep-candidates", o.stream.keep_candidates, "also write every candidate as \"candidates\"");
  sampler.add("--batch-size", "batch_size", "sequences denoised together (results do not depend on it)");
  stream.add("--sort-window", "sort_window", "batches read and run longest source first (output order kept)");
  stream.add("--idle-flush", "idle_flush_ms",
             "milliseconds of idle input after which records waiting for a full batch are run (0 = off)");
  sampler.add("--seed", "seed", "run seed (each sequence's noise: seed, record index, candidate)");
  sampler.add("--max-trg-len", "max_trg_len", "target slots to generate (0 = the model's)");
  mds::cli::add_threads_option(&app, o.model.threads);
  mds::cli::add_device_option(&app, o.model.device);
  app.add_flag("--skip-bad", o.stream.skip_bad, "skip and count malformed records instead of failing");
  app.add_option("--meta", o.meta_path, "write the sampler configuration (and final statistics) as JSON to this file");
  sampler.add("--rounding", "rounding", "round x0 to the nearest embedding each step: on, off, auto (ddpm/ddim on)");
  sampler.add("--absorb-rate", "absorb_rate", "ddpm absorbing swap factor gamma, 0 to 1 (default: the model's)");
  auto* init_opt = sampler.add("--init", "init", "initial target noise: m (m + N(0,I)) or zero (N(0,I))");
  auto* frame_opt = sampler.add("--frame", "frame", "solver frame: centered (x - m) or raw (x)");
  auto* time_opt = sampler.add("--dpm-time", "dpm_time", "dpm++ network time: upstream ((t-1/T)*1000) or v2 (t*1000)");
  app.add_flag("--diffuseq-v2", v2, "reproduce DiffuSeq-v2's code (frame raw; dpm++: init zero, dpm-time v2)");
  mds::cli::add_progress_flag(&app, o.progress);
  app.add_flag("-q,--quiet", o.quiet, "nothing on standard error but errors");

  return mds::cli::run(app, argc, argv, [&] {
    auto& s = o.sampler.solver;
    if (v2) {  // DiffuSeq-v2's choices, unless a flag says otherwise
      if (!frame_opt->count()) s.trajectory.centered = false;
      if (s.kind == mds::SolverKind::dpmpp) {
        if (!init_opt->count()) s.trajectory.init = mds::InitNoise::zero;
        if (!time_opt->count()) s.dpm_v2_time = true;
      }
    }
    sampler.validate("mds-sample");  // the checks across fields (--dpm-time with dpm++ only, ...)
    stream.validate("mds-sample");
    o.progress = mds::cli::show_progress(o.progress, o.quiet);
    o.command.assign(argv, argv + argc);
    return mds::run_sample_tool(o, mds::load_sampling_model, mds::select_mbr, stderr);
  });
}
