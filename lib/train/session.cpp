// An mds-train session (see session.h): resolves the config, tokenizer, data
// and model, then hands them to the Trainer.
#include "train/session.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "dist/launch.h"
#include "runtime/factory.h"
#include "core/error.h"
#include "io/file_lock.h"
#include "io/json_text.h"
#include "io/stream.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/rng.h"
#include "train/shard_dataset.h"

namespace mds::train {

using nlohmann::json;

namespace {

json read_config_file(const std::string& path) {
  if (path != "-" && !std::filesystem::exists(path)) throw_usage("--config {}: no such file", path);
  const std::vector<uint8_t> bytes = read_all_bytes(path);
  json doc;
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  JsonParseError e;
  if (!parse_json(text, doc, &e)) {
    if (e.kind != JsonParseError::Kind::syntax)  // too deep, or a number beyond a double
      throw_usage("{}: {}", path, e.describe("at " + line_and_column(text, e.byte)));
    const std::string& what = e.detail;
    const size_t cut = what.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] "
    throw_usage("{}: invalid JSON: {}", path, cut == std::string::npos ? what : what.substr(cut + 2));
  }
  if (!doc.is_object()) throw_usage("{}: expected a JSON object {{\"model\": ..., \"train\": ...}}, found {}", path,
                                    doc.type_name());
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "model" && it.key() != "train")
      throw_usage("{}: unknown top-level key \"{}\"; valid keys: model, train", path, it.key());
  if (doc.contains("model") && !doc["model"].is_object())
    throw_usage("{}: \"model\" must be a JSON object, found {}", path, doc["model"].type_name());
  return doc;
}

// Pairs longer than the model's limits are cut when packed; say how many.
void warn_long_pairs(const Dataset& d, const ModelShape& shape, Reporter& reporter) {
  size_t long_src = 0, long_trg = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (shape.max_src_len > 0 && static_cast<int64_t>(d.src(i).size) > shape.max_src_len) ++long_src;
    if (shape.max_trg_len > 0 && static_cast<int64_t>(d.trg(i).size) > shape.max_trg_len) ++long_trg;
  }
  if (long_src)
    reporter.warning(fmt::format("{}: {} of {} sources are longer than model.max_src_len = {} and are cut to it",
                                 d.name, long_src, d.size(), shape.max_src_len));
  if (long_trg)
    reporter.warning(fmt::format("{}: {} of {} targets are longer than model.max_trg_len = {} and are cut to it",
                                 d.name, long_trg, d.size(), shape.max_trg_len));
}

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

}  // namespace

SessionResult run_session(const SessionOptions& opt, const ModelBinding& binding,
                          const volatile std::sig_atomic_t* stop, std::FILE* out, std::FILE* messages,
                          bool messages_is_terminal) {
  SessionResult result;
  const bool resuming = !opt.resume.empty();
  // This process's place in a data-parallel job (one process by default).
  const dist::LaunchEnv launch = dist::read_launch_env();
  const bool rank0 = launch.rank == 0;
  if (!resuming && opt.config_path.empty()) throw_usage("--config is required (unless --resume is given)");
  if (!resuming && opt.tokenizer_path.empty()) throw_usage("--tokenizer is required (unless --resume is given)");
  if (opt.out.empty() && !opt.print_config) throw_usage("--out is required: where to write the checkpoint");

  // Output guards, before any work: an output that is an input, an output
  // that cannot be written (found otherwise only at the first checkpoint),
  // and a second trainer on the same -o.
  std::unique_ptr<OutputLock> out_lock;
  if (!opt.print_config && rank0) {  // only rank 0 writes
    std::vector<NamedPath> inputs;
    if (opt.data.empty()) inputs.push_back({"input", "-"});
    for (const std::string& d : opt.data) inputs.push_back({"input", d});
    for (const std::string& v : opt.valid) inputs.push_back({"--valid", v});
    if (!opt.tokenizer_path.empty()) inputs.push_back({"--tokenizer", opt.tokenizer_path});
    if (!opt.config_path.empty()) inputs.push_back({"--config", opt.config_path});
    refuse_output_overwriting_input({"-o", opt.out}, inputs);  // --resume may be -o: it is read before any write
    if (!opt.log.empty() && opt.log != "-") {
      if (!opt.resume.empty()) inputs.push_back({"--resume", opt.resume});
      inputs.push_back({"-o", opt.out});
      refuse_output_overwriting_input({"--log", opt.log}, inputs);
    }
    check_output_writable({"-o", opt.out});
    out_lock = std::make_unique<OutputLock>(opt.out, "-o", "mds-train");
  }

  // Checkpoint, tokenizer.
  Container ck;
  if (resuming) {
    ck = read_checkpoint(opt.resume);
    const json& cfg = ck.meta.contains("config") ? ck.meta["config"] : json();
    if (!cfg.is_object() || !cfg.contains("model") || !cfg.contains("train"))
      throw_bad_input("{}: checkpoint metadata lacks the \"config\" object with \"model\" and \"train\"", opt.resume);
  }
  const Tokenizer tok = resuming ? Tokenizer::from_embedded(ck) : Tokenizer::load(opt.tokenizer_path);
  // The model config, parsed once for the whole run.
  std::unique_ptr<BoundModel> model;
  if (resuming) {
    // The checkpoint's own config is input data: when it does not validate,
    // the file is at fault (exit 3), not the command line.
    const std::string where = opt.resume + " (config)";
    try {
      (void)train_config_from_json(ck.meta["config"]["train"], where + ": train");
      model = binding.bind(ck.meta["config"]["model"], tok.vocab_size(), where + ": model");
    } catch (const Error& e) {
      if (e.code() != ExitCode::usage) throw;
      throw_bad_input("{}: the checkpoint's config is invalid: {}", opt.resume, e.what());
    }
  }
  if (resuming && !opt.tokenizer_path.empty()) {
    const Tokenizer given = Tokenizer::load(opt.tokenizer_path);
    if (given.hash() != tok.hash())
      throw_usage("--tokenizer {} ({}) differs from the tokenizer in {} ({}); a resumed run keeps its tokenizer",
                  opt.tokenizer_path, given.hash(), opt.resume, tok.hash());
  }

  // Config: file or checkpoint, then overrides in order.
  json doc;
  std::string where = opt.config_path;
  if (resuming) {
    doc = ck.meta["config"];
    where = opt.resume + " (config)";
    if (!opt.config_path.empty()) {
      const json file = read_config_file(opt.config_path);
      if (file.contains("model") &&
          binding.bind(file["model"], tok.vocab_size(), opt.config_path + ": model")->config() != model->config())
        throw_usage("{}: the \"model\" object differs from the one in {}; a resumed run keeps its model (drop "
                    "\"model\" from the config or pass the same one)",
                    opt.config_path, opt.resume);
      if (file.contains("train")) doc["train"] = file["train"];
      where = opt.config_path;
    }
  } else {
    doc = read_config_file(opt.config_path);
    if (!doc.contains("model")) throw_usage("{}: no \"model\" object", opt.config_path);
  }
  for (const std::string& o : opt.overrides) {
    if (resuming && o.rfind("model.", 0) == 0)
      throw_usage("--set {}: a resumed run keeps the checkpoint's model; only train.* can change", o);
    if (o.rfind("model.", 0) != 0 && o.rfind("train.", 0) != 0)
      throw_usage("--set {}: the path must start with \"model.\" or \"train.\"", o);
    apply_override(doc, o);
  }
  if (!opt.overrides.empty()) where += " with --set";
  const TrainConfig tc = train_config_from_json(doc.value("train", json::object()), where + ": train");
  if (!resuming) model = binding.bind(doc["model"], tok.vocab_size(), where + ": model");
  const json effective = {{"model", model->config()}, {"train", train_config_to_json(tc)}};
  if (opt.print_config) {
    errno = 0;
    if (std::fprintf(out, "%s\n", effective.dump(2, ' ', false, json::error_handler_t::replace).c_str()) < 0 || std::fflush(out) != 0)
      throw_runtime("<stdout>: write failed: {}", std::strerror(errno != 0 ? errno : EIO));
    result.config_printed = true;
    return result;
  }
  std::string device = resolve_device(opt.device);  // "auto" -> cuda or cpu
  if (launch.distributed() && device.rfind("cuda", 0) == 0 && device.find(':') == std::string::npos)
    device += ":" + std::to_string(launch.local_rank);  // one GPU per rank on each host
  if (launch.distributed() && device.rfind("cuda", 0) != 0)
    throw_usage("{} ranks were launched ({}) on device {}: multi-process training runs on GPUs with NCCL; on the CPU, "
                "train in one process (--threads)",
                launch.world_size, launch.launcher, device);
  if (opt.zero1 && !launch.distributed())
    throw_usage("--zero 1 shards the optimizer state across ranks; this is one process (launch several with --gpus N, "
                "mpirun or srun)");
  binding.check_device(device);
  const ModelShape shape = model->shape();

  // Output streams.
  std::unique_ptr<std::FILE, FileCloser> log_file;
  std::FILE* metrics = messages;
  std::string metrics_name = "<stderr>";
  if (!rank0) {
    metrics = nullptr;  // the other ranks' results are rank 0's lines
  } else if (opt.log == "-") {
    metrics = out;
    metrics_name = "<stdout> (--log -)";
  } else if (!opt.log.empty()) {
    log_file.reset(std::fopen(opt.log.c_str(), "a"));
    if (!log_file) throw_runtime("--log {}: cannot open for appending: {}", opt.log, std::strerror(errno));
    metrics = log_file.get();
    metrics_name = opt.log;
  }
  const bool bar = rank0 && (opt.progress == 1 || (opt.progress == -1 && messages_is_terminal));
  Reporter reporter(metrics, rank0 ? messages : nullptr, bar, 100, metrics_name);
  if (out_lock && !out_lock->held() && !out_lock->unsupported_reason().empty())
    reporter.warning(fmt::format("-o {}: {}; a second trainer on this -o would not be stopped", opt.out,
                                 out_lock->unsupported_reason()));

  // Data.
  const Dataset train = load_shard_dataset(opt.data, tok.hash(), "training");
  std::unique_ptr<Dataset> valid;
  if (!opt.valid.empty()) valid = std::make_unique<Dataset>(load_shard_dataset(opt.valid, tok.hash(), "validation"));
  warn_long_pairs(train, shape, reporter);
  if (valid) warn_long_pairs(*valid, shape, reporter);

  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::unique_ptr<TrainableModel> net = model->make(device, threads, derive_seed(tc.seed, Stream::init));
  std::unique_ptr<dist::Communicator> comm;
  if (launch.distributed()) {
    if (!net->compute_backend()) throw_runtime("the model has no backend to run collectives on");
    comm = make_process_communicator(*net->compute_backend(), launch, opt.dist_timeout_s);
    net->distribute(*comm, opt.zero1);
  }

  TrainerSetup setup;
  setup.num_timesteps = shape.num_timesteps;
  setup.max_src_len = shape.max_src_len;
  setup.max_trg_len = shape.max_trg_len;
  setup.pack = [&model](const Dataset& d, const std::vector<uint64_t>& ids) { return model->pack(d, ids); };
  setup.checkpoint_path = opt.out;
  const json provenance = {{"program", "mds-train"},
                           {"version", MDS_VERSION},
                           {"data", train.name},
                           {"valid", valid ? valid->name : std::string()},
                           {"threads", threads},
                           {"device", device},
                           {"ranks", launch.world_size},
                           {"zero", opt.zero1 ? 1 : 0}};
  setup.checkpoint_extras = [&](Container& c) {
    c.meta["config"] = effective;
    c.meta["provenance"] = provenance;
    tok.add_to(c, "tokenizer/");
  };
  setup.stop_flag = stop;
  setup.reporter = rank0 ? &reporter : nullptr;
  setup.comm = comm.get();
  json resume_step;  // null for a fresh run; a checkpoint without trainer state fails in resume() below
  if (resuming && ck.meta.contains("trainer") && ck.meta["trainer"].is_object())
    resume_step = ck.meta["trainer"].value("step", json());
  setup.run_identity = {{"config", effective},
                        {"tokenizer", tok.hash()},
                        {"resume", resume_step},
                        {"zero", opt.zero1}};

  Trainer trainer(*net, tc, train, valid.get(), std::move(setup));
  if (resuming) trainer.resume(ck);
  result.train = trainer.run();
  if (log_file && result.train.metrics_errno == 0) {
    // Every line was flushed, but a network file system may report a write
    // error only at close.
    errno = 0;
    if (std::fclose(log_file.release()) != 0)
      throw_runtime("{}: close failed: {}; the checkpoint {} of step {} was written", opt.log,
                    std::strerror(errno != 0 ? errno : EIO), opt.out, result.train.step);
  }
  // A closed pipe is a stop request (the caller maps it to 128 + SIGPIPE);
  // any other failed metrics write is an I/O error.
  if (result.train.metrics_errno != 0 && result.train.metrics_errno != EPIPE)
    throw_runtime("{}; training stopped at step {} and the checkpoint {} was written; continue with --resume {}",
                  result.train.metrics_error, result.train.step, opt.out, opt.out);
  return result;
}

}  // namespace mds::train
