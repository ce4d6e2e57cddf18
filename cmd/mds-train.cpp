// mds-train: train a model from token shards, resume from a checkpoint, stop
// cleanly on SIGINT/SIGTERM. Thin main: flags here, the work in lib/train
// (session.h). Documented in man/mds-train.1 and docs/training.md.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli_common.h"
#include "dist/launch.h"
#include "dist/local_launcher.h"
#include "train/default_binding.h"
#include "train/session.h"

namespace {

// The only state a signal handler touches (the library gets a pointer to it).
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Train an MoE-DiffuSeq model from token shards (mds-tokenize encode). Writes a self-contained checkpoint "
      "(--out) every train.checkpoint_every steps, at the end, and on SIGINT/SIGTERM; --resume continues exactly. "
      "Metrics are JSON lines on stderr or --log. Exit status: 0 done, 1 runtime failure (e.g. non-finite loss, a "
      "failed write), 2 usage or config error, 3 bad input data, 128+N stopped by signal N after saving a checkpoint "
      "(141 when the metrics pipe was closed).",
      "mds-train"};
  mds::cli::add_version_flag(app, "mds-train");
  mds::train::SessionOptions opt;
  std::vector<std::string> sets;
  int64_t steps = 0, batch_size = 0, grad_accum = 0, warmup_steps = 0;
  double lr = 0;
  uint64_t seed = 0;
  bool skip_nonfinite = false, progress = false, no_progress = false;

  app.add_option("shards", opt.data, "training shards (none or - = stdin)")->type_name("SHARD");
  app.add_option("--config", opt.config_path, "config JSON {\"model\": {...}, \"train\": {...}}")->type_name("FILE");
  app.add_option("--tokenizer", opt.tokenizer_path, "tokenizer .mds the shards were encoded with")->type_name("FILE");
  app.add_option("--valid", opt.valid, "validation shard (repeatable)")
      ->type_name("SHARD")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  mds::cli::add_output_option(&app, opt.out, "checkpoint to write (replaced at each save)", false, "-o,--out");
  app.add_option("--resume", opt.resume, "checkpoint to continue from (may be the same file as --out)")->type_name("FILE");
  app.add_option("--set", sets, "override a config value: train.KEY=VALUE or model.KEY=VALUE (repeatable)")
      ->type_name("PATH=VALUE")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* o_steps = app.add_option("--steps", steps, "same as --set train.steps=N")
                      ->transform(mds::cli::integer_at_least<int64_t>(1));
  auto* o_lr = app.add_option("--lr", lr, "same as --set train.lr=X")->check(mds::cli::positive_number());
  auto* o_bs = app.add_option("--batch-size", batch_size, "same as --set train.batch_size=N")
                   ->transform(mds::cli::integer_at_least<int64_t>(1));
  auto* o_ga = app.add_option("--grad-accum", grad_accum, "same as --set train.grad_accum=N")
                   ->transform(mds::cli::integer_at_least<int64_t>(1));
  auto* o_wu = app.add_option("--warmup-steps", warmup_steps, "same as --set train.warmup_steps=N")
                   ->transform(mds::cli::integer_at_least<int64_t>(0));
  auto* o_seed = app.add_option("--seed", seed, "same as --set train.seed=N")
                    ->transform(mds::cli::integer_at_least<uint64_t>(0));
  app.add_flag("--skip-nonfinite", skip_nonfinite,
               "skip (and count) updates with a non-finite loss or gradient instead of stopping");
  app.add_option("--log", opt.log, "append JSONL metrics to this file (- = stdout; default stderr)")->type_name("FILE");
  auto* o_prog = mds::cli::add_progress_flag(&app, progress);
  app.add_flag("--no-progress", no_progress, "never draw the progress bar")->excludes(o_prog);
  mds::cli::add_threads_option(&app, opt.threads);
  mds::cli::add_device_option(&app, opt.device);
  app.add_flag("--print-config", opt.print_config, "print the effective config (defaults filled in) and exit");
  int gpus = 1, zero = 0;
  app.add_option("--gpus", gpus,
                 "train on N GPUs of this host, one process each (data parallel; under mpirun or srun, leave it out)")
      ->transform(mds::cli::integer_at_least<int>(1))
      ->default_val(1);
  app.add_option("--zero", zero, "1 = shard the AdamW moments across the ranks (ZeRO stage 1); 0 = replicate them")
      ->check(CLI::IsMember({0, 1}))
      ->default_val(0);
  app.add_option("--dist-timeout", opt.dist_timeout_s,
                 "seconds a rank waits for the others (rendezvous, each collective) before it stops with an error")
      ->check(mds::cli::positive_number())
      ->default_val(600);

  return mds::cli::run(app, argc, argv, [&] {
    opt.overrides = sets;
    if (*o_steps) opt.overrides.push_back(fmt::format("train.steps={}", steps));
    if (*o_lr) opt.overrides.push_back(fmt::format("train.lr={}", lr));
    if (*o_bs) opt.overrides.push_back(fmt::format("train.batch_size={}", batch_size));
    if (*o_ga) opt.overrides.push_back(fmt::format("train.grad_accum={}", grad_accum));
    if (*o_wu) opt.overrides.push_back(fmt::format("train.warmup_steps={}", warmup_steps));
    if (*o_seed) opt.overrides.push_back(fmt::format("train.seed={}", seed));
    if (skip_nonfinite) opt.overrides.push_back("train.skip_nonfinite=true");
    opt.progress = progress ? 1 : no_progress ? 0 : -1;
    const bool reads_stdin =
        opt.data.empty() || std::find(opt.data.begin(), opt.data.end(), "-") != opt.data.end();
    if (reads_stdin && !opt.print_config && isatty(fileno(stdin)))
      mds::throw_usage("no training shards given and stdin is a terminal; name shard files or pipe one in");
    opt.zero1 = zero == 1;
    install_stop_handlers();
    const bool as_rank = mds::dist::started_as_rank();
    if (gpus > 1 && as_rank && std::getenv(mds::dist::kLocalLaunchVariable) == nullptr)
      mds::throw_usage("--gpus {}: this process is already one rank of a job (RANK/WORLD_SIZE, mpirun or srun set); "
                       "leave --gpus out and let the launcher start one process per GPU",
                       gpus);
    if (gpus > 1 && !as_rank) {
      // The launcher: one rank per GPU, each running these same arguments.
      if (opt.print_config) mds::throw_usage("--print-config prints without training: leave --gpus out");
      const std::vector<std::string> args(argv + 1, argv + argc);
      const mds::dist::LocalLaunchResult r =
          mds::dist::run_local_ranks("/proc/self/exe", args, gpus, &g_stop_signal, 30.0, stderr);
      if (r.failed_rank >= 0)
        std::fprintf(stderr, "mds-train: rank %d of %d failed (status %d); its message is above\n", r.failed_rank,
                     gpus, r.exit_status);
      return r.exit_status;
    }
    const auto binding = mds::train::default_model_binding();
    const mds::train::SessionResult r =
        mds::train::run_session(opt, *binding, &g_stop_signal, stdout, stderr, isatty(fileno(stderr)) != 0);
    if (r.config_printed) return 0;
    // One summary line per job: rank 0's (the other ranks wrote no checkpoint).
    if (as_rank && mds::dist::read_launch_env().rank != 0)
      return r.train.interrupted ? 128 + r.train.signal : r.train.metrics_errno == EPIPE ? 128 + SIGPIPE : 0;
    if (r.train.metrics_errno == EPIPE) {
      // The metrics reader went away (`--log - | head`): a stop request, as if
      // by SIGPIPE, but with the checkpoint saved (SIGPIPE itself is ignored).
      std::fprintf(stderr,
                   "mds-train: stopped at step %lld: %s; checkpoint %s; continue with --resume %s\n",
                   static_cast<long long>(r.train.step), r.train.metrics_error.c_str(), opt.out.c_str(),
                   opt.out.c_str());
      return 128 + SIGPIPE;
    }
    if (r.train.interrupted) {
      std::fprintf(stderr, "mds-train: stopped by signal %d at step %lld; checkpoint %s; continue with --resume %s\n",
                   r.train.signal, static_cast<long long>(r.train.step), opt.out.c_str(), opt.out.c_str());
      return 128 + r.train.signal;
    }
    std::fprintf(stderr, "mds-train: done at step %lld%s; checkpoint %s\n", static_cast<long long>(r.train.step),
                 r.train.nonfinite_skipped ? fmt::format(" ({} non-finite updates skipped)", r.train.nonfinite_skipped).c_str() : "",
                 opt.out.c_str());
    return 0;
  });
}
