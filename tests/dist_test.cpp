// Data parallelism on the in-process communicator (ranks as threads, CPU
// backend), what CI can run without GPUs (docs/distributed.md): the
// collectives against plain loops, 2 and 3 ranks reproducing the one-rank
// run of the real model at equal global batch, ZeRO-1 matching plain data
// parallelism, checkpoints resuming on another number of ranks, and a
// failing rank stopping the others with its message instead of a hang.
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include <chrono>
#include <map>

#include <gtest/gtest.h>

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/launch.h"
#include "dist/local_launcher.h"
#include "dist/rendezvous.h"
#include "dist/thread_communicator.h"
#include "model/model.h"
#include "runtime/factory.h"
#include "train/checkpoint.h"
#include "train/default_binding.h"
#include "train/report.h"
#include "train/trainer.h"
#include "qqp_fixtures.h"
#include "test_files.h"

namespace tr = mds::train;
namespace dist = mds::dist;
using nlohmann::json;

namespace {

// Runs fn(rank, comm) on `world` threads. A rank that throws aborts the
// group (as mds-train does), so the others fail instead of waiting; every
// rank's error message is returned ("" = it succeeded).
std::vector<std::string> run_ranks(int world, int real_bytes,
                                   const std::function<void(int, dist::Communicator&)>& fn) {
  dist::ThreadGroup group(world, real_bytes);
  std::vector<std::string> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      std::unique_ptr<dist::Communicator> comm = group.communicator(r);
      try {
        fn(r, *comm);
      } catch (const std::exception& e) {
        errors[r] = e.what();
        comm->abort(e.what());
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

void expect_no_errors(const std::vector<std::string>& errors) {
  for (size_t r = 0; r < errors.size(); ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

}  // namespace

TEST(ThreadCommunicator, CollectivesMatchPlainLoops) {
  for (int world : {1, 2, 3, 4}) {
    for (const char* device : {"cpu", "cpu-f64"}) {
      const int64_t n = 7 * world;  // reduce-scatter and all-gather need equal chunks
      const int64_t odd = 13;       // all-reduce takes any length
      std::vector<std::vector<double>> inputs(world), inputs_odd(world);
      std::mt19937_64 gen(world);
      std::normal_distribution<double> normal;
      for (int r = 0; r < world; ++r) {
        for (int64_t i = 0; i < n; ++i) inputs[r].push_back(normal(gen));
        for (int64_t i = 0; i < odd; ++i) inputs_odd[r].push_back(normal(gen));
      }
      const auto be0 = mds::make_backend(device, 1);
      const int rb = be0->real_bytes();
      std::vector<std::vector<double>> reduced(world), scattered(world), gathered(world);
      std::vector<std::vector<std::string>> bytes(world);
      std::vector<std::vector<double>> host(world);
      expect_no_errors(run_ranks(world, rb, [&](int r, dist::Communicator& c) {
        EXPECT_EQ(c.rank(), r);
        EXPECT_EQ(c.world_size(), world);
        const auto be = mds::make_backend(device, 1);
        mds::Tensor a = be->alloc({odd});
        be->upload(a, inputs_odd[r].data());
        c.all_reduce_sum(a);
        c.wait();
        reduced[r].resize(odd);
        be->download(a, reduced[r].data());

        mds::Tensor s = be->alloc({n});
        be->upload(s, inputs[r].data());
        c.reduce_scatter_sum(s);
        scattered[r].resize(n);
        be->download(s, scattered[r].data());

        mds::Tensor g = be->alloc({n});
        std::vector<double> mine(n, -1.0);
        for (int64_t i = 0; i < n / world; ++i) mine[r * (n / world) + i] = 100.0 * r + i;
        be->upload(g, mine.data());
        c.all_gather(g);
        gathered[r].resize(n);
        be->download(g, gathered[r].data());

        bytes[r] = c.all_gather_bytes(std::string(size_t(r) + 1, char('a' + r)));
        host[r] = dist::all_reduce_host(c, {double(r), 1.0});
      }));
      const double tol = rb == 4 ? 1e-5 : 1e-13;
      for (int r = 0; r < world; ++r) {
        for (int64_t i = 0; i < odd; ++i) {
          double sum = 0;
          for (int q = 0; q < world; ++q) sum += inputs_odd[q][i];
          EXPECT_NEAR(reduced[r][i], sum, tol) << device << " world " << world;
          EXPECT_EQ(reduced[r][i], reduced[0][i]) << "every rank holds the same bits";
        }
        const int64_t chunk = n / world;
        for (int64_t i = 0; i < chunk; ++i) {
          double sum = 0;
          for (int q = 0; q < world; ++q) sum += inputs[q][r * chunk + i];
          EXPECT_NEAR(scattered[r][r * chunk + i], sum, tol);
        }
        for (int q = 0; q < world; ++q)
          for (int64_t i = 0; i < chunk; ++i) EXPECT_EQ(gathered[r][q * chunk + i], 100.0 * q + i);
        ASSERT_EQ(bytes[r].size(), size_t(world));
        for (int q = 0; q < world; ++q) EXPECT_EQ(bytes[r][q], std::string(size_t(q) + 1, char('a' + q)));
        EXPECT_EQ(host[r], (std::vector<double>{world * (world - 1) / 2.0, double(world)}));
      }
    }
  }
}

TEST(ThreadCommunicator, MismatchedCountsFailOnEveryRank) {
  const auto errors = run_ranks(2, 4, [&](int r, dist::Communicator& c) {
    const auto be = mds::make_backend("cpu", 1);
    mds::Tensor t = be->alloc({r == 0 ? 4 : 6});
    c.all_reduce_sum(t);
  });
  for (const std::string& e : errors) EXPECT_NE(e.find("passed"), std::string::npos) << e;
}

TEST(ThreadCommunicator, AFailingRankStopsTheOthers) {
  const auto errors = run_ranks(3, 4, [&](int r, dist::Communicator& c) {
    if (r == 1) throw mds::Error(mds::ExitCode::runtime, "disk full while reading shard 7");
    // Ranks 0 and 2 would wait for rank 1 forever without the abort.
    for (int i = 0; i < 3; ++i) c.all_gather_bytes("x");
  });
  EXPECT_EQ(errors[1], "disk full while reading shard 7");
  for (int r : {0, 2}) {
    EXPECT_NE(errors[r].find("rank 1 failed: disk full while reading shard 7"), std::string::npos) << errors[r];
    EXPECT_NE(errors[r].find(fmt::format("rank {}", r)), std::string::npos) << errors[r];
  }
}

namespace {

struct RealRun {
  std::unique_ptr<tr::ModelBinding> binding = tr::default_model_binding();
  std::unique_ptr<tr::BoundModel> bound;
  RealRun() { bound = binding->bind(mds::testing::tiny_model(0.1, 10), mds::testing::qqp64().vocab, "model"); }
  tr::TrainerSetup setup(const std::string& ckpt) const {
    tr::TrainerSetup s = mds::testing::real_model_setup(*bound, ckpt);
    s.checkpoint_extras = [](mds::Container& c) { c.meta["config"] = {{"note", "dist test"}}; };
    return s;
  }
};

tr::TrainConfig global_batch_config(int64_t steps) {
  tr::TrainConfig c;
  c.steps = steps;
  c.batch_size = 4;
  c.grad_accum = 6;  // the global batch: 6 micro-batches, dealt to 1, 2 or 3 ranks
  c.lr = 2e-3;
  c.warmup_steps = 4;
  c.lr_schedule = tr::LrSchedule::cosine;
  c.grad_clip = 1.0;
  c.weight_decay = 0.01;
  c.ema_decay = 0.9;
  c.timestep_sampler = tr::TimestepSampling::loss_aware;
  c.loss_aware_history = 2;
  c.log_every = 1;
  c.valid_every = 5;
  c.valid_max_batches = 3;
  c.checkpoint_every = 0;
  c.seed = 11;
  return c;
}

struct Curve {
  std::vector<double> train_loss, grad_norm, valid_loss;
};

Curve read_curve(std::FILE* f) {
  Curve c;
  std::stringstream ss(mds::testing::read_stream(f));
  std::string line;
  while (std::getline(ss, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    if (j["type"] == "train") c.train_loss.push_back(j["loss"]), c.grad_norm.push_back(j["grad_norm"]);
    if (j["type"] == "valid") c.valid_loss.push_back(j["loss"]);
  }
  return c;
}

// Trains on `world` ranks (threads) from `resume` (or fresh) to c.steps, or
// until a stop request reaches the last rank after update `stop_at`, and
// returns rank 0's metrics curve; the checkpoint goes to `ckpt`.
Curve train_on(int world, bool zero1, const std::string& device, const tr::TrainConfig& c, const std::string& ckpt,
               const std::string& resume = "", int64_t stop_at = 0) {
  const RealRun run;
  const tr::Dataset& data = mds::testing::qqp64().data;
  std::FILE* metrics = std::tmpfile();
  std::FILE* messages = std::tmpfile();
  Curve curve;
  {
    tr::Reporter rep(metrics, messages, false);
    const int rb = mds::make_backend(device, 1)->real_bytes();
    expect_no_errors(run_ranks(world, rb, [&](int r, dist::Communicator& comm) {
      std::unique_ptr<mds::TrainableModel> net = run.bound->make(device, 1, 5);
      if (world > 1 || zero1) net->distribute(comm, zero1);
      tr::TrainerSetup s = run.setup(ckpt);
      s.comm = world > 1 || zero1 ? &comm : nullptr;  // one plain rank: the trainer as it runs alone
      s.reporter = r == 0 ? &rep : nullptr;
      s.run_identity = {{"device", device}};
      volatile std::sig_atomic_t stop = 0;
      if (stop_at > 0 && r == world - 1) {
        s.stop_flag = &stop;
        s.on_step = [&](int64_t step) {
          if (step == stop_at) stop = SIGTERM;
        };
      }
      tr::Trainer t(*net, c, data, &data, s);
      if (!resume.empty()) t.resume(tr::read_checkpoint(resume));
      const tr::TrainResult res = t.run();
      EXPECT_EQ(res.step, stop_at > 0 ? stop_at : c.steps);
      EXPECT_EQ(res.checkpoint_written, r == 0);
    }));
  }
  curve = read_curve(metrics);
  std::fclose(metrics);
  std::fclose(messages);
  return curve;
}

void expect_close_curves(const Curve& a, const Curve& b, double rel, const std::string& what) {
  ASSERT_EQ(a.train_loss.size(), b.train_loss.size()) << what;
  ASSERT_EQ(a.valid_loss.size(), b.valid_loss.size()) << what;
  for (size_t i = 0; i < a.train_loss.size(); ++i) {
    EXPECT_NEAR(a.train_loss[i], b.train_loss[i], rel * std::abs(a.train_loss[i])) << what << " step " << i + 1;
    EXPECT_NEAR(a.grad_norm[i], b.grad_norm[i], rel * std::abs(a.grad_norm[i])) << what << " step " << i + 1;
  }
  for (size_t i = 0; i < a.valid_loss.size(); ++i)
    EXPECT_NEAR(a.valid_loss[i], b.valid_loss[i], rel * std::abs(a.valid_loss[i])) << what << " validation " << i;
}

// Largest relative difference between the same-named f32 sections.
double max_section_difference(const mds::Container& a, const mds::Container& b) {
  double worst = 0;
  EXPECT_EQ(a.sections.size(), b.sections.size());
  for (const auto& sa : a.sections) {
    const mds::Section* sb = nullptr;
    for (const auto& s : b.sections)
      if (s.name == sa.name) sb = &s;
    if (!sb) {
      ADD_FAILURE() << "section " << sa.name << " is missing";
      continue;
    }
    if (sa.dtype != mds::DType::f32) continue;
    EXPECT_EQ(sa.shape, sb->shape) << sa.name;
    const auto* x = reinterpret_cast<const float*>(sa.data.data());
    const auto* y = reinterpret_cast<const float*>(sb->data.data());
    for (size_t i = 0; i < sa.data.size() / sizeof(float); ++i)
      worst = std::max(worst, std::abs(double(x[i]) - y[i]) / std::max(1e-3, std::abs(double(x[i]))));
  }
  return worst;
}

}  // namespace

// The test: 2 and 3 ranks reproduce the one-rank loss curve at equal
// global batch for 20 steps. In f64 the only difference is the order of the
// gradient sums (per rank, then over ranks), so the curves agree to ~1e-12.
TEST(DataParallel, TwoAndThreeRanksReproduceOneRank) {
  const mds::testing::TempDir dir;
  const tr::TrainConfig c = global_batch_config(20);
  const Curve one = train_on(1, false, "cpu-f64", c, dir.path("one.mds"));
  ASSERT_EQ(one.train_loss.size(), 20u);
  ASSERT_EQ(one.valid_loss.size(), 4u);
  for (int world : {2, 3}) {
    const Curve many = train_on(world, false, "cpu-f64", c, dir.path("many.mds"));
    expect_close_curves(one, many, 1e-9, fmt::format("{} ranks", world));
    EXPECT_LT(max_section_difference(tr::read_checkpoint(dir.path("one.mds")), tr::read_checkpoint(dir.path("many.mds"))),
              1e-5);
  }
}

// ZeRO-1 shards the AdamW moments; the result equals plain data parallelism
// (only the gradient norm's summation order differs) and its checkpoint holds
// the full moments, like a single rank's.
TEST(DataParallel, ZeroOneMatchesPlainDataParallelism) {
  const mds::testing::TempDir dir;
  const tr::TrainConfig c = global_batch_config(12);
  for (const char* device : {"cpu", "cpu-f64"}) {
    const Curve plain = train_on(3, false, device, c, dir.path("plain.mds"));
    const Curve zero = train_on(3, true, device, c, dir.path("zero.mds"));
    const bool f32 = std::string(device) == "cpu";
    expect_close_curves(plain, zero, f32 ? 1e-4 : 1e-10, std::string("ZeRO-1 on ") + device);
    const mds::Container a = tr::read_checkpoint(dir.path("plain.mds")), b = tr::read_checkpoint(dir.path("zero.mds"));
    EXPECT_LT(max_section_difference(a, b), f32 ? 1e-3 : 1e-6) << device;
    EXPECT_EQ(a.meta["trainer"], b.meta["trainer"]);
    int moments = 0;
    for (const auto& s : b.sections) moments += s.name.rfind("adam_m/", 0) == 0;
    EXPECT_GT(moments, 10);
  }
  // The sharding itself: after an update (which gives a plain model its
  // per-parameter moments) no rank holds per-parameter moments, and the flat
  // arenas are padded so the 3 shards are equal and aligned.
  const RealRun run;
  tr::TrainConfig one = global_batch_config(1);
  one.warmup_steps = 0, one.log_every = 0, one.valid_every = 0;
  expect_no_errors(run_ranks(3, 4, [&](int, dist::Communicator& comm) {
    std::unique_ptr<mds::TrainableModel> net = run.bound->make("cpu", 1, 5);
    net->distribute(comm, true);
    tr::TrainerSetup s = run.setup("");
    s.comm = &comm;
    tr::Trainer t(*net, one, mds::testing::qqp64().data, nullptr, s);
    ASSERT_EQ(t.run().step, 1);
    auto* model = dynamic_cast<mds::DiffusionModel*>(net.get());
    ASSERT_NE(model, nullptr);
    ASSERT_TRUE(model->params().flat());
    EXPECT_EQ(model->params().flat_size() % (64 * 3), 0);
    EXPECT_GE(model->params().flat_size(), model->params().count());
    for (const auto& p : model->params().all()) EXPECT_FALSE(p.adam_m.defined() || p.adam_v.defined()) << p.name;
  }));
}

// A checkpoint is the same whatever the number of ranks: 10 steps on 2 ranks
// (ZeRO-1), then 10 on 3 ranks, then the last 5 on 1, equal 25 on one rank
// (to the f32 rounding of the checkpoints).
TEST(DataParallel, CheckpointsResumeOnAnotherNumberOfRanks) {
  const mds::testing::TempDir dir;
  tr::TrainConfig c = global_batch_config(25);
  c.valid_every = 0;
  const Curve straight = train_on(1, false, "cpu-f64", c, dir.path("straight.mds"));
  // Stopped as by SIGTERM (the schedule's horizon stays 25 steps).
  const Curve first = train_on(2, true, "cpu-f64", c, dir.path("a.mds"), "", 10);
  const Curve second = train_on(3, false, "cpu-f64", c, dir.path("b.mds"), dir.path("a.mds"), 20);
  const Curve third = train_on(1, false, "cpu-f64", c, dir.path("c.mds"), dir.path("b.mds"));
  Curve joined = first;
  for (const Curve* p : {&second, &third}) {
    joined.train_loss.insert(joined.train_loss.end(), p->train_loss.begin(), p->train_loss.end());
    joined.grad_norm.insert(joined.grad_norm.end(), p->grad_norm.begin(), p->grad_norm.end());
  }
  // The checkpoints store f32, so the resumed f64 runs start from rounded
  // weights: agreement to ~1e-8 relative, not the 1e-12 of one run.
  expect_close_curves(straight, joined, 1e-6, "2 -> 3 -> 1 ranks");
  const mds::Container a = tr::read_checkpoint(dir.path("straight.mds")), b = tr::read_checkpoint(dir.path("c.mds"));
  EXPECT_LT(max_section_difference(a, b), 1e-5);
  EXPECT_EQ(a.meta["trainer"], b.meta["trainer"]);
}

// Ranks that disagree on what they train stop before the first step, naming
// the rank and the field.
TEST(DataParallel, RanksWithDifferentConfigsAreRefused) {
  const RealRun run;
  const tr::Dataset& data = mds::testing::qqp64().data;
  const auto errors = run_ranks(2, 4, [&](int r, dist::Communicator& comm) {
    std::unique_ptr<mds::TrainableModel> net = run.bound->make("cpu", 1, 5);
    net->distribute(comm, false);
    tr::TrainConfig c = global_batch_config(6);
    if (r == 1) c.lr = 1e-3;
    tr::TrainerSetup s = run.setup("");
    s.comm = &comm;
    tr::Trainer t(*net, c, data, nullptr, s);
    t.run();
  });
  for (const std::string& e : errors)
    EXPECT_NE(e.find("rank 1 differs from rank 0 in \"train\""), std::string::npos) << e;
}

// A rank whose step fails (here: its batch cannot be packed) stops every
// rank with its message; nobody waits forever.
TEST(DataParallel, AFailingRankStopsTraining) {
  const RealRun run;
  const tr::Dataset& data = mds::testing::qqp64().data;
  const auto errors = run_ranks(3, 4, [&](int r, dist::Communicator& comm) {
    std::unique_ptr<mds::TrainableModel> net = run.bound->make("cpu", 1, 5);
    net->distribute(comm, true);
    tr::TrainerSetup s = run.setup("");
    s.comm = &comm;
    std::atomic<int> packed{0};
    auto pack = s.pack;
    s.pack = [&, pack, r](const tr::Dataset& d, const std::vector<uint64_t>& ids) {
      if (r == 2 && ++packed == 3) throw mds::Error(mds::ExitCode::runtime, "out of device memory");
      return pack(d, ids);
    };
    tr::Trainer t(*net, global_batch_config(5), data, nullptr, s);
    t.run();
  });
  EXPECT_EQ(errors[2], "out of device memory");
  for (int r : {0, 1}) EXPECT_NE(errors[r].find("rank 2 failed: out of device memory"), std::string::npos) << errors[r];
}

// A stop request (SIGTERM) reaching one rank stops all of them after the
// same update, and rank 0 writes one checkpoint that resumes exactly.
TEST(DataParallel, AStopOnOneRankStopsAll) {
  const mds::testing::TempDir dir;
  const RealRun run;
  const tr::Dataset& data = mds::testing::qqp64().data;
  tr::TrainConfig c = global_batch_config(8);
  c.log_every = 0;
  c.valid_every = 0;
  std::vector<int64_t> steps(2);
  std::vector<int> signals(2);
  volatile std::sig_atomic_t stop1 = 0;
  expect_no_errors(run_ranks(2, 4, [&](int r, dist::Communicator& comm) {
    std::unique_ptr<mds::TrainableModel> net = run.bound->make("cpu", 1, 5);
    net->distribute(comm, false);
    tr::TrainerSetup s = run.setup(dir.path("stopped.mds"));
    s.comm = &comm;
    if (r == 1) {
      s.stop_flag = &stop1;
      s.on_step = [&](int64_t step) {
        if (step == 3) stop1 = SIGTERM;
      };
    }
    tr::Trainer t(*net, c, data, nullptr, s);
    const tr::TrainResult res = t.run();
    steps[r] = res.step;
    signals[r] = res.signal;
  }));
  EXPECT_EQ(steps, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(signals, (std::vector<int>{SIGTERM, SIGTERM}));
  EXPECT_EQ(tr::read_checkpoint(dir.path("stopped.mds")).meta["trainer"]["step"], 3);
}

// ---- launch environment and rendezvous -----------------------------------------

namespace {

dist::LaunchEnv env_of(const std::map<std::string, std::string>& vars) {
  return dist::read_launch_env([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string usage_error(const std::map<std::string, std::string>& vars) {
  try {
    env_of(vars);
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::usage);
    return e.what();
  }
  return "";
}

}  // namespace

TEST(LaunchEnv, ReadsEachLauncher) {
  EXPECT_FALSE(env_of({}).distributed());
  const dist::LaunchEnv t = env_of({{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"},
                                    {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "12345"}});
  EXPECT_EQ(t.rank, 2);
  EXPECT_EQ(t.world_size, 4);
  EXPECT_EQ(t.local_rank, 0);
  EXPECT_EQ(t.master_addr, "node7");
  EXPECT_EQ(t.master_port, 12345);
  EXPECT_EQ(t.launcher, "env");
  const dist::LaunchEnv m = env_of({{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "8"},
                                    {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.1"}});
  EXPECT_EQ(m.rank, 5);
  EXPECT_EQ(m.local_rank, 1);
  EXPECT_EQ(m.master_port, 29500);
  EXPECT_EQ(m.launcher, "mpirun");
  const dist::LaunchEnv s = env_of({{"SLURM_PROCID", "3"}, {"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_LOCALID", "1"},
                                    {"SLURM_STEP_NODELIST", "gpu[07-08]"}, {"SLURM_NTASKS", "4"}});
  EXPECT_EQ(s.rank, 3);
  EXPECT_EQ(s.world_size, 4);
  EXPECT_EQ(s.master_addr, "gpu07");
  EXPECT_EQ(s.launcher, "srun");
  // The batch script itself (no step) is one process.
  EXPECT_FALSE(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}}).distributed());
  EXPECT_EQ(dist::first_slurm_host("a1,b2"), "a1");
  EXPECT_EQ(dist::first_slurm_host("gpu[12,15-16],cpu3"), "gpu12");
  EXPECT_EQ(dist::first_slurm_host("node9"), "node9");
}

TEST(LaunchEnv, InconsistentValuesAreUsageErrors) {
  EXPECT_NE(usage_error({{"RANK", "4"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}}).find("RANK=4 is outside"),
            std::string::npos);
  EXPECT_NE(usage_error({{"RANK", "x"}, {"WORLD_SIZE", "4"}}).find("RANK=\"x\": expected an integer"),
            std::string::npos);
  EXPECT_NE(usage_error({{"WORLD_SIZE", "2"}}).find("RANK is not"), std::string::npos);
  EXPECT_NE(usage_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(usage_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
                .find("MASTER_PORT"),
            std::string::npos);
}

TEST(Rendezvous, EveryRankReceivesRankZerosPayload) {
  const int world = 4, port = dist::free_tcp_port();
  std::vector<std::string> got(world), errors(world);
  std::vector<std::thread> ts;
  for (int r = world - 1; r >= 0; --r)  // the others start before rank 0 listens
    ts.emplace_back([&, r] {
      dist::LaunchEnv e;
      e.rank = r, e.world_size = world, e.master_addr = "127.0.0.1", e.master_port = port;
      try {
        got[r] = dist::rendezvous(e, r == 0 ? std::string("id\0with\0zeros", 13) : std::string(), 20);
      } catch (const std::exception& x) {
        errors[r] = x.what();
      }
    });
  for (auto& t : ts) t.join();
  for (int r = 0; r < world; ++r) {
    EXPECT_EQ(errors[r], "") << r;
    EXPECT_EQ(got[r], std::string("id\0with\0zeros", 13)) << r;
  }
}

TEST(Rendezvous, AMissingRankIsNamedAfterTheTimeout) {
  const int port = dist::free_tcp_port();
  std::string error0, error1;
  std::thread t0([&] {
    dist::LaunchEnv e;
    e.rank = 0, e.world_size = 3, e.master_addr = "127.0.0.1", e.master_port = port;
    try {
      dist::rendezvous(e, "x", 1.0);
    } catch (const std::exception& x) {
      error0 = x.what();
    }
  });
  std::thread t1([&] {
    dist::LaunchEnv e;
    e.rank = 1, e.world_size = 3, e.master_addr = "127.0.0.1", e.master_port = port;
    try {
      dist::rendezvous(e, "", 1.5);
    } catch (const std::exception& x) {
      error1 = x.what();
    }
  });
  t0.join();
  t1.join();
  EXPECT_NE(error0.find("rank(s) 2 did not reach rank 0"), std::string::npos) << error0;
  EXPECT_NE(error1.find("rank 1 could not reach rank 0"), std::string::npos) << error1;
}

TEST(Rendezvous, ADuplicateRankIsRefused) {
  const int port = dist::free_tcp_port();
  std::vector<std::string> errors(3);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i)
    ts.emplace_back([&, i] {
      if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both rank 1s arrive first
      dist::LaunchEnv e;
      e.rank = i == 0 ? 0 : 1, e.world_size = 3, e.master_addr = "127.0.0.1", e.master_port = port;
      try {
        dist::rendezvous(e, "x", 2);
      } catch (const std::exception& x) {
        errors[i] = x.what();
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_NE(errors[0].find("rank 1 arrived twice"), std::string::npos) << errors[0];
}
