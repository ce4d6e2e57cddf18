// The whole of mds-sample behind its flags: load the checkpoint, build the
// sampler, write the configuration (stderr or --meta), stream the records,
// report. The model loader and MBR selector are passed in so the same code
// runs with a real checkpoint (cmd/mds-sample.cpp) and with analytic models
// (tests).
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sample/denoiser.h"
#include "sample/jsonl_stream.h"
#include "sample/sampler.h"
#include "sample/text_codec.h"

namespace mds {

struct ModelLoadOptions {
  std::string path;
  std::string device = "auto";  // auto: cuda when a GPU is usable, else cpu
  int threads = 1;
};

// What a checkpoint gives the sampler.
struct LoadedModel {
  std::unique_ptr<Denoiser> denoiser;
  std::unique_ptr<TextCodec> codec;
  nlohmann::json identity = nlohmann::json::object();  // path, training step, config, tokenizer hash, ...
};

using ModelLoader = std::function<LoadedModel(const ModelLoadOptions&)>;

struct SampleToolOptions {
  ModelLoadOptions model;            // threads 0 = all cores
  std::vector<std::string> inputs{"-"};
  std::string output = "-";
  SamplerOptions sampler;
  StreamOptions stream;              // skip_bad, keep_candidates, sort_window, idle_flush_ms (select and
                                     // on_batch are set by run_sample_tool)
  std::string meta_path;             // "" = the configuration goes to the log
  bool quiet = false;
  bool progress = false;
  std::vector<std::string> command;  // argv, for the provenance record
};

// Runs mds-sample; returns the exit status (0). Errors are thrown as mds::Error.
// `log` receives the configuration line, progress and the summary.
int run_sample_tool(const SampleToolOptions& opt, const ModelLoader& loader, const MbrSelector& select,
                    std::FILE* log);

}  // namespace mds
