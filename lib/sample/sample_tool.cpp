// mds-sample's body: configuration record, streaming, summary.
#include "sample/sample_tool.h"

#include "runtime/factory.h"
#include "core/error.h"
#include "core/version.h"
#include "io/stream.h"
#include "sample/sample_config.h"
#include "core/parallel.h"

namespace mds {
namespace {

void write_meta(const std::string& path, const nlohmann::json& meta) {
  OutputFile f(path);
  f.write(meta.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  f.commit();
}

}  // namespace

int run_sample_tool(const SampleToolOptions& opt, const ModelLoader& loader, const MbrSelector& select,
                    std::FILE* log) {
  std::vector<NamedPath> inputs;
  for (const std::string& p : opt.inputs) inputs.push_back({"input", p});
  if (inputs.empty()) inputs.push_back({"input", "-"});
  inputs.push_back({"-m", opt.model.path});
  refuse_output_overwriting_input({"-o", opt.output}, inputs);
  if (!opt.meta_path.empty()) {
    inputs.push_back({"-o", opt.output});
    refuse_output_overwriting_input({"--meta", opt.meta_path}, inputs);
  }
  // Before the model is read (which may take long): the schema's ranges.
  validate(opt.sampler);
  validate(opt.stream);
  ModelLoadOptions mo = opt.model;
  if (mo.threads < 0) throw_usage("--threads {} is out of range: expected 0 (all cores) or more", mo.threads);
  mo.threads = resolve_threads(mo.threads);
  mo.device = resolve_device(mo.device);  // "auto" -> cuda or cpu, recorded in the meta
  LoadedModel loaded = loader(mo);
  if (!loaded.denoiser || !loaded.codec) throw_runtime("{}: the checkpoint gave no model or no tokenizer", mo.path);
  Sampler sampler(*loaded.denoiser, opt.sampler);

  nlohmann::json meta;
  meta["tool"] = version_report("mds-sample");
  meta["command"] = opt.command;
  meta["checkpoint"] = loaded.identity;
  meta["sampler"] = sampler.describe();
  meta["sampler"]["mbr"] = opt.sampler.candidates > 1 ? "nltk sentence BLEU-4, smoothing method 4 (DiffuSeq selectBest)"
                                                      : "off";
  meta["sampler"]["sort_window_batches"] = opt.stream.sort_window;
  meta["sampler"]["idle_flush_ms"] = opt.stream.idle_flush_ms;
  meta["inputs"] = opt.inputs;
  meta["device"] = mo.device;
  meta["threads"] = mo.threads;
  if (!opt.meta_path.empty()) write_meta(opt.meta_path, meta);
  else if (!opt.quiet)  // argv and file names need not be UTF-8: shown with U+FFFD
    std::fprintf(log, "mds-sample: config %s\n",
                 meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::fflush(log);

  OutputFile out(opt.output);
  OutputFileSink sink(out);
  FileLineSource in(opt.inputs);
  StreamOptions so = opt.stream;
  so.select = select;
  if (opt.progress && !opt.quiet)
    so.on_batch = [log](const StreamStats& s) {
      std::fprintf(log, "mds-sample: %llu records, %.1f s\n", static_cast<unsigned long long>(s.records), s.seconds);
      std::fflush(log);
    };
  const StreamStats st = sample_jsonl(sampler, *loaded.codec, so, in, sink);
  out.commit();

  const SamplerStats& ss = sampler.stats();
  nlohmann::json stats;
  stats["records"] = st.records;
  stats["skipped"] = st.skipped;
  stats["skipped_examples"] = st.skipped_examples;
  stats["idle_batches"] = st.idle_batches;
  stats["sequences"] = ss.rows;
  stats["seconds"] = st.seconds;
  stats["seconds_per_record"] = st.records ? st.seconds / static_cast<double>(st.records) : 0.0;
  stats["first_output_seconds"] = st.first_output_seconds;
  stats["model_evaluations"] = ss.model_evaluations;
  stats["model_seconds"] = ss.model_seconds;
  stats["denoised_tokens"] = ss.denoised_tokens;
  stats["generate_seconds"] = ss.seconds;
  stats["denoised_tokens_per_second"] = ss.model_seconds > 0 ? static_cast<double>(ss.denoised_tokens) / ss.model_seconds : 0.0;
  if (!opt.meta_path.empty()) {
    meta["stats"] = stats;
    write_meta(opt.meta_path, meta);
  }
  if (!opt.quiet)
    for (const auto& e : st.skipped_examples) std::fprintf(log, "mds-sample: skipped %s\n", e.c_str());
  if (!opt.quiet)
    std::fprintf(log, "mds-sample: %llu records (%llu skipped) in %.2f s, %.4f s/record, %.0f denoised tokens/s\n",
                 static_cast<unsigned long long>(st.records), static_cast<unsigned long long>(st.skipped), st.seconds,
                 stats["seconds_per_record"].get<double>(), stats["denoised_tokens_per_second"].get<double>());
  return 0;
}

}  // namespace mds
